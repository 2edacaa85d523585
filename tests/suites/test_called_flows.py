"""In-process suites whose flow calls other flows (`call` nodes): `flows:` loads them into
the throwaway database under the workflow ids the `call` nodes name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convoflow.testing.local import LocalDriver
from convoflow.testing.parsing import SuiteError, load_suite, parse_suite
from convoflow.testing.runner import CaseResult, run_suites
from tests.support import chain, node

CHILD_ID = "0190aaaa-bbbb-7ccc-8ddd-000000000001"
GRANDCHILD_ID = "address-check"  # any id up to 36 characters


def write(directory: Path, name: str, definition: dict) -> None:
    (directory / name).write_text(json.dumps({"name": name, "definition": definition}))


def flows(directory: Path) -> None:
    """order.json asks for the address in a child (which asks a grandchild to check it)."""
    write(directory, "order.json", chain(
        node("start", "start"),
        node("hello", "send_text", message="Let's take your order."),
        node("address", "call", workflow_id=CHILD_ID, workflow_name="Address"),
        node("bye", "send_text", message="Shipping to {{vars.address}} ({{vars.checked}})."),
    ))  # fmt: skip
    (directory / "sub").mkdir()
    write(directory, "sub/address.json", chain(
        node("start", "start"),
        node("ask", "send_text", message="Your address?"),
        node("wait", "wait_for_response", save_response_to="address"),
        node("check", "call", workflow_id=GRANDCHILD_ID),
    ))  # fmt: skip
    write(directory, "sub/check.json", chain(
        node("start", "start"),
        node("mark", "set_variable", variable_name="checked", variable_value="checked"),
    ))  # fmt: skip


SUITE = f"""flow: order.json
flows:
  {CHILD_ID}: sub/address.json
  {GRANDCHILD_ID}: sub/check.json
cases:
  - name: through two called flows
    steps:
      - expect_bot: "Let's take your order."
      - expect_bot: "Your address?"
      - user: "1 Main St"
      - expect_bot: "Shipping to 1 Main St (checked)."
      - expect_status: ended
"""


async def run(paths: list[Path]) -> list[CaseResult]:
    driver = LocalDriver()
    try:
        return await run_suites(driver, [load_suite(p) for p in paths], lambda r: None)
    finally:
        await driver.close()


async def test_a_flow_calling_other_flows_runs_in_process(tmp_path: Path) -> None:
    flows(tmp_path)
    (tmp_path / "order.test.yaml").write_text(SUITE)
    # A second suite of the same run loads the same ids again (a new version of each).
    (tmp_path / "again.test.yaml").write_text(SUITE)
    results = await run([tmp_path / "order.test.yaml", tmp_path / "again.test.yaml"])
    assert [(r.outcome, r.lines) for r in results] == [("passed", [])] * 2


async def test_without_flows_the_called_flow_is_missing(tmp_path: Path) -> None:
    flows(tmp_path)
    (tmp_path / "order.test.yaml").write_text(SUITE.replace("flows:", "unused_flows:", 1))
    with pytest.raises(SuiteError, match="unused_flows"):
        load_suite(tmp_path / "order.test.yaml")
    text = "\n".join(line for line in SUITE.splitlines() if "sub/" not in line and line != "flows:")
    (tmp_path / "order.test.yaml").write_text(text)
    [result] = await run([tmp_path / "order.test.yaml"])
    # The call fails (into vars.subworkflow_error, as Kapso does) and the parent goes on.
    assert result.outcome == "failed"
    assert result.lines[:2] == [
        'text: expected "Your address?"',
        '      got      "Shipping to  ()."',
    ]


def test_flows_are_checked_before_running(tmp_path: Path) -> None:
    flows(tmp_path)
    cases = "cases: [{name: a, steps: [{user: x}]}]\n"
    (tmp_path / "long.test.yaml").write_text(
        f"flow: order.json\nflows: {{{'x' * 37}: a.json}}\n{cases}"
    )
    with pytest.raises(SuiteError, match="at most 36 characters"):
        load_suite(tmp_path / "long.test.yaml")
    (tmp_path / "gone.test.yaml").write_text(
        f"flow: order.json\nflows:\n  {CHILD_ID}: sub/missing.json\n{cases}"
    )
    with pytest.raises(SuiteError) as caught:
        load_suite(tmp_path / "gone.test.yaml")
    [problem] = caught.value.problems
    assert problem.startswith(f"suite field flows.{CHILD_ID}: ")
    assert problem.endswith("missing.json' does not exist")
    assert caught.value.lines == [3]
    # A suite stored with its workflow runs on the server: no files to load there.
    with pytest.raises(SuiteError, match="a stored suite cannot load flow files"):
        parse_suite(SUITE, Path("stored.test.yaml"), stored=True, definition={})
