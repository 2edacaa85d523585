"""`convoflow test` and `convoflow chat` run AI flows offline: the suite file
(`provider_models:`) or the command line (`--provider-model`) gives the throwaway
project the provider model the flow names, here `convoflow fake-llm` on loopback, both
run as a user runs them (subprocesses)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.suites.test_convoflow_test import convoflow

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "examples" / "ai-support.json"  # names the provider model `demo-llm`

GREETING = "Hi! I'm the demo assistant. Do you need help with billing, shipping, or a person?"
SUITE = f"""flow: {FLOW}
vars: {{name: Ana}}
cases:
  - name: a refund goes to billing
    steps:
      - expect_bot: "{GREETING}"
      - user: I want a refund
      - expect_bot: "Billing it is: your last invoice is on its way by email."
      - expect_status: ended
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake_llm() -> Iterator[str]:
    """`convoflow fake-llm --script examples/fake-llm.yaml` on a free port: its /v1 URL."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    script = ROOT / "examples" / "fake-llm.yaml"
    command = [sys.executable, "-m", "convoflow", "fake-llm", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--script", str(script)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/_fake/requests", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield f"{url}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_suite_names_its_provider_model(tmp_path: Path, fake_llm: str) -> None:
    suite = tmp_path / "ai.test.yaml"
    models = f"provider_models:\n  - {{name: demo-llm, base_url: '{fake_llm}', model: fake}}\n"
    suite.write_text(models + SUITE)
    result = convoflow("test", suite)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_command_line_gives_the_provider_model(tmp_path: Path, fake_llm: str) -> None:
    suite = tmp_path / "ai.test.yaml"
    suite.write_text(SUITE)
    # Without one the AI field cannot be written: the case fails, saying why.
    without = convoflow("test", suite)
    assert without.returncode == 1, without.stdout
    assert "no provider model named 'demo-llm'" in without.stdout
    given = convoflow("test", suite, "--provider-model", f"name=demo-llm,base_url={fake_llm}")
    assert given.returncode == 0, given.stdout + given.stderr
    bad = convoflow("test", suite, "--provider-model", "name=demo-llm")
    assert bad.returncode == 2 and "base_url" in bad.stdout + bad.stderr


def _chat(*options: str, replies: str) -> subprocess.CompletedProcess[str]:
    """`convoflow chat` the demo flow with these options, the user's replies on stdin."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "convoflow", "chat", str(FLOW), *options]
    return subprocess.run(
        command, input=replies, env=env, capture_output=True, text=True, timeout=120
    )


def test_chat_with_a_provider_model(fake_llm: str) -> None:
    model = f"name=demo-llm,base_url={fake_llm},model=fake"
    result = _chat("--provider-model", model, replies="where is my parcel?\n")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("bot> Hi! I'm the demo assistant.")
    assert "bot> Your order left our warehouse today; it arrives in 2 days." in lines


def test_chat_refuses_a_provider_model_with_a_database(tmp_path: Path) -> None:
    # It would have made the model in that database's "sandbox" project and let that
    # project call private addresses.
    database = tmp_path / "real.db"
    model = "name=demo-llm,base_url=http://127.0.0.1:9/v1"
    url = f"sqlite+aiosqlite:///{database}"
    result = _chat("--database-url", url, "--provider-model", model, replies="")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "only with the throwaway database" in result.stderr
    assert not database.exists()
