"""A fork server of `convoflow worker`, for the kill -9 tests (test_crash.py and the agent
crash tests that share its WorkerProcess).

It imports everything once, then for each port read on stdin forks a fresh worker that
runs the real CLI path (`convoflow worker --metrics-port PORT`: the port answers once the
worker is up) and prints the child's pid (chaos_server.fork_each_line). The test SIGKILLs
that child; a kill-and-restart cycle then costs the worker's start-up, not Python's
imports (4-7 s each at load 7 on a 2-core machine).

    python tests/durability/worker_forks.py    (settings from CONVOFLOW_* env)
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys

import convoflow.engine
from convoflow.cli import main as convoflow_main
from convoflow.config import Settings
from convoflow.process import build_process
from tests.durability.chaos_server import fork_each_line


def _warm() -> None:
    """Import what a worker imports on its first jobs (steps, LLM and MCP clients) and
    build (and drop) one engine, so that children inherit it. Nothing stays connected."""
    for module in pkgutil.walk_packages(convoflow.engine.__path__, "convoflow.engine."):
        importlib.import_module(module.name)
    asyncio.run(build_process(Settings().database_url).close())


def main() -> None:
    _warm()

    def worker(port: str) -> None:
        sys.argv = ["convoflow", "worker", "--metrics-port", port]
        convoflow_main()

    fork_each_line(worker)


if __name__ == "__main__":
    main()
