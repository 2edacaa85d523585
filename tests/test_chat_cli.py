"""`convoflow chat FLOW.json` as a user runs it: no secret key in the environment (its
throwaway database gets a key of its own), replies scripted on stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_chat_runs_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "CONVOFLOW_SECRET_KEY"}
    env["PYTHONPATH"] = str(ROOT / "src")
    result = subprocess.run(
        [sys.executable, "-m", "convoflow", "chat", str(ROOT / "examples" / "canonical.json")],
        input="42\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "bot> Hi! Before we start: how old are you?",
        "[waiting]",
        "bot> Thanks! You are 42, so you're in the adult group.",
        "[ended]",
    ]
