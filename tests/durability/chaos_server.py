"""A fork server of `convoflow serve`, for the WhatsApp crash test and bench/chaos.py.

It imports everything once, then forks a fresh server process (the real `serve` path:
API and worker, on PORT) for each line read on stdin and prints the child's pid. The
test SIGKILLs that child; a kill-and-restart cycle then costs the server's start-up, not
Python's imports (several seconds on a loaded 2-core machine). Children are reaped by
the kernel (SIGCHLD ignored), so a killed pid disappears at once.

    python tests/durability/chaos_server.py PORT    (settings from CONVOFLOW_* env)
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
import traceback
from collections.abc import Callable

import uvicorn  # noqa: F401  (imported before forking: the point of a fork server)

from convoflow.api.app import create_app
from convoflow.cli.serve import _serve
from convoflow.config import Settings
from convoflow.observability.logs import configure_logging
from convoflow.process import build_process


def _die_with_parent() -> None:
    """A harness that dies (a timeout, Ctrl-C) closes our stdin and this fork server
    exits: its live server must not outlive it, holding the port and the database."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def main() -> None:
    port = int(sys.argv[1])
    settings = Settings()
    url = settings.database_url
    # What `convoflow serve` does first (cli.main): without it every per-message info
    # line is rendered, whatever CONVOFLOW_LOG_LEVEL says, and costs the server CPU.
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    # Build (and drop) one app before forking: what the first build loads once per
    # process (the CA bundle, FastAPI's route models) is then inherited by every child,
    # so a restart costs the server's start-up alone. Nothing is connected yet.
    warm = build_process(url)
    create_app(warm, run_worker=True)
    asyncio.run(warm.close())
    fork_each_line(lambda _line: asyncio.run(_serve(url, "127.0.0.1", port, True, "warning")))


def fork_each_line(child: Callable[[str], object]) -> None:
    """For each line read on stdin, fork a child that runs `child(line)` and exits, and
    print its pid. Also the loop of worker_forks.py."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _die_with_parent()
            sys.stdin.close()
            os.dup2(2, 1)  # stdout carries pids to the test: the child logs to stderr
            code = 1
            try:
                child(line.strip())
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except Exception:
                traceback.print_exc()
            finally:
                os._exit(code)  # never back into this loop
        print(pid, flush=True)


if __name__ == "__main__":
    main()
