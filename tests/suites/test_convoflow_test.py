"""`convoflow test`: run as a user runs it (a subprocess), against the real engine
in-process and against a real `convoflow serve` on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
from typer.testing import CliRunner

from convoflow.cli import app
from tests.observability.server import ServerProcess
from tests.support import EXAMPLES, chain, node

ROOT = Path(__file__).resolve().parents[2]


def convoflow(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "convoflow", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_flow(directory: Path, name: str, definition: dict) -> Path:
    path = directory / name
    path.write_text(json.dumps({"name": name, "definition": definition}))
    return path


def write_suite(directory: Path, name: str, text: str) -> None:
    """`text` runs against reminder.json (written beside it)."""
    write_flow(directory, "reminder.json", reminder_flow())
    (directory / name).write_text("flow: reminder.json\n" + text)


def reminder_flow() -> dict:
    """Ask, wait up to 2 hours, remind on timeout."""
    return chain(
        node("start", "start"),
        node("ask", "send_text", message="Your order number?"),
        node(
            "wait",
            "wait_for_response",
            has_timeout=True,
            timeout_seconds=7200,
            save_response_to="order",
        ),
        node("bye", "send_text", message="Got {{vars.order}}."),
    )


def write_delayed_suite(directory: Path) -> Path:
    """A greeting after a 30-second delay: 29 s fire nothing, the 30th sends it."""
    delayed = chain(
        node("start", "start"),
        node("hello", "send_text", message="Hello", delay_seconds=30),
        node("wait", "wait_for_response"),
    )
    write_flow(directory, "delayed.json", delayed)
    suite = directory / "delayed.test.yaml"
    suite.write_text(
        """flow: delayed.json
cases:
  - name: the greeting waits out its delay
    steps:
      - advance_time: 29s
      - advance_time: 1s
      - expect_bot: "Hello"
      - expect_status: waiting
"""
    )
    return suite


def test_a_send_delay_passes_with_advance_time(tmp_path):
    result = convoflow("test", write_delayed_suite(tmp_path))
    assert "passed: 1 passed, 0 failed, 0 errors, 0 skipped" in result.stdout, (
        result.stdout + result.stderr
    )


def test_a_case_with_skip_is_not_run_and_reported_skipped(tmp_path):
    """`skip: reason` parks a case: it is not run (its steps would fail here), the report
    counts it as skipped with the reason, and the run still exits 0."""
    write_delayed_suite(tmp_path)
    suite = tmp_path / "parked.test.yaml"
    suite.write_text(
        """flow: delayed.json
cases:
  - name: the greeting waits out its delay
    steps:
      - advance_time: 30s
      - expect_bot: "Hello"
  - name: a greeting being redone
    skip: the new greeting is not written yet
    steps:
      - expect_bot: "Good morning"
"""
    )
    result = convoflow("test", suite, "--junit", tmp_path / "junit.xml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed: 1 passed, 0 failed, 0 errors, 1 skipped" in result.stdout, result.stdout
    assert "the new greeting is not written yet" in result.stdout
    junit = (tmp_path / "junit.xml").read_text()
    assert 'skipped="1"' in junit and "<skipped" in junit


def test_the_example_suites_pass():
    """What `make test` runs: every example flow's suite, in-process."""
    result = convoflow("test", EXAMPLES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed: 11 passed, 0 failed, 0 errors, 0 skipped" in result.stdout
    assert "info" not in result.stderr  # the engine's info lines stay out of the report


def test_a_timeout_case_passes_with_advance_time(tmp_path):
    write_suite(
        tmp_path,
        "reminder.test.yaml",
        """cases:
  - name: silence for two hours moves on
    steps:
      - expect_bot: "Your order number?"
      - advance_time: 7199s
      - expect_status: waiting
      - advance_time: 1s
      - expect_bot: "Got ."
      - expect_status: ended
""",
    )
    result = convoflow("test", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_a_wrong_expectation_fails_with_a_readable_diff(tmp_path):
    write_suite(
        tmp_path,
        "wrong.test.yaml",
        """cases:
  - name: right
    steps:
      - user: "A-17"
      - expect_vars: {order: "A-17"}
  - name: wrong text
    steps:
      - user: "A-17"
      - expect_bot: "Got A-18."
  - name: wrong vars and status
    steps:
      - user: "A-17"
      - expect_vars: {order: 17, missing: true}
  - name: button that is not offered
    steps:
      - user: {button: yes}
""",
    )
    junit = tmp_path / "report.xml"
    result = convoflow("test", tmp_path, "--junit", junit)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "FAIL  wrong.test.yaml :: wrong text" in out
    assert "at step 2: expect_bot: Got A-18." in out
    assert 'text: expected "Got A-18."' in out and 'got      "Got A-17."' in out
    assert "vars.order: expected 17 (int)" in out and '"A-17" (str)' in out
    assert "vars.missing: expected true (bool), but it is not set" in out
    assert "the last bot message offers no button 'yes'" in out
    assert "1 passed, 3 failed, 0 errors" in out

    # JUnit: valid XML, one testcase per case, the diff in the failure's body.
    suites = ET.parse(junit).getroot()
    suite = suites.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "3", "0")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["right"].find("failure") is None
    failure = cases["wrong text"].find("failure")
    assert failure is not None and "Got A-18." in (failure.text or "")
    assert "step 2" in (failure.text or "")


def test_a_bad_suite_file_exits_2_naming_file_case_and_step(tmp_path):
    write_suite(
        tmp_path,
        "bad.test.yaml",
        """cases:
  - name: typos
    steps:
      - user: "hi"
      - expect_bots: "hello"
      - expect_status: sleeping
      - advance_time: soon
      - user: [1, 2]
  - steps: []
""",
    )
    (tmp_path / "noflow.test.yaml").write_text(
        "flow: nowhere.json\ncases: [{name: a, steps: [{user: x}]}]\n"
    )
    result = convoflow("test", tmp_path)
    out = result.stdout
    assert result.returncode == 2, out + result.stderr
    assert "bad suite file" in out and "bad.test.yaml" in out
    assert "case 1 ('typos') step 2: unknown step 'expect_bots'" in out
    assert "case 1 ('typos') step 3 field expect_status: Input should be" in out
    assert "case 1 ('typos') step 4 field advance_time: 'soon' is not a duration" in out
    assert "case 1 ('typos') step 5 field user: write `user: \"text\"`" in out
    assert "case 2 field name: Field required" in out
    assert "'nowhere.json' does not exist" in out


def test_against_a_running_server(tmp_path, db_url):
    runner = CliRunner()
    made = runner.invoke(app, ["projects", "create", "suites", "--database-url", db_url])
    assert made.exit_code == 0, made.output
    keyed = runner.invoke(
        app, ["api-keys", "create", "--project", "suites", "--database-url", db_url]
    )
    assert keyed.exit_code == 0, keyed.output
    key = keyed.stdout.strip().splitlines()[-1]
    server = ServerProcess(db_url, tmp_path / "serve.log")
    server.start()
    try:
        result = convoflow(
            "test",
            EXAMPLES,
            "--url",
            server.url,
            "--api-key",
            key,
            "--junit",
            tmp_path / "url.xml",
        )
        out = result.stdout
        assert result.returncode == 0, out + result.stderr + server.output().decode()[-3000:]
        # The same example suites as in-process, through the API (set_vars as a resume,
        # advance_time as the sandbox's skip_wait: 59m then 1m fires a 1-hour timeout).
        assert "passed: 11 passed, 0 failed, 0 errors, 0 skipped" in out

        # A send delay is at rest until advance_time fires it (not a settle timeout), and
        # 29 s of a 30 s delay fire nothing.
        delayed = convoflow(
            "test", write_delayed_suite(tmp_path), "--url", server.url, "--api-key", key
        )
        assert "passed: 1 passed, 0 failed, 0 errors, 0 skipped" in delayed.stdout, (
            delayed.stdout + delayed.stderr
        )

        (tmp_path / "wrong.test.yaml").write_text(
            f"flow: {EXAMPLES / 'menu.json'}\ncases:\n  - name: wrong\n    steps:\n"
            "      - user: {button: sales}\n      - expect_status: ended\n"
        )
        wrong = convoflow(
            "test", tmp_path / "wrong.test.yaml", "--url", server.url, "--api-key", key
        )
        assert wrong.returncode == 1, wrong.stdout + wrong.stderr
        assert "status: expected ended, got handoff" in wrong.stdout
        # Every workflow those runs made is deleted, the handed-off one too (forced): the
        # project lists none, not even archived.
        with httpx.Client(base_url=f"{server.url}/platform/v1", headers={"X-API-Key": key}) as http:
            listed = http.get("/workflows", params={"per_page": 100}).json()["data"]
        assert [(w["name"], w["status"]) for w in listed] == []

        # A suite stored with a workflow on the server, run there (--stored).
        workflow_id = stored_suite(server.url, key, "      - expect_status: handoff\n")
        passed = convoflow("test", "--stored", workflow_id, "--url", server.url, "--api-key", key)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert "passed: 1 passed, 0 failed, 0 errors, 0 skipped" in passed.stdout
        failing = stored_suite(server.url, key, "      - expect_status: ended\n")
        failed = convoflow("test", "--stored", failing, "--url", server.url, "--api-key", key)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "status: expected ended, got handoff" in failed.stdout
    finally:
        server.stop()


def stored_suite(url: str, key: str, last_step: str) -> str:
    """A workflow (the menu example) with a one-case suite stored on the server."""
    with httpx.Client(base_url=f"{url}/platform/v1", headers={"X-API-Key": key}) as http:
        definition = json.loads((EXAMPLES / "menu.json").read_text())["definition"]
        body = {"workflow": {"name": f"Menu {last_step.strip()}", "definition": definition}}
        workflow_id = str(http.post("/workflows", json=body).json()["data"]["id"])
        text = "cases:\n  - name: sales\n    steps:\n      - user: {button: sales}\n" + last_step
        saved = http.put(
            f"/workflows/{workflow_id}/test_suite", json={"test_suite": {"yaml": text}}
        )
        assert saved.status_code == 200, saved.text
        return workflow_id
