"""The test's side of a fork server (chaos_server.fork_each_line: chaos_server.py for
`convoflow serve`, worker_forks.py for `convoflow worker`): ask it for a child, kill
that child, stop it, all without blocking the event loop. The harness's event loop also
serves the fake Graph API (whatsapp_chaos.py) or plays the users (test_crash.py): a
blocking wait there stalls sends, statuses and webhooks for as long as it lasts (the
fork server's warm-up is seconds; a graceful stop up to its grace period)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import BinaryIO

ROOT = Path(__file__).resolve().parents[2]
# How long a child has to exit after SIGTERM, and the fork server after its stdin closes.
GRACE_SECONDS = 10.0


class ForkServer:
    """A fork server subprocess: `fork(line)` starts a child and returns its pid."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def open(
        cls, script: Path, *args: str, env: dict[str, str], log: str | None = None
    ) -> ForkServer:
        """`log`: a file the fork server and its children append their stderr to."""
        with _stderr(log) as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(script), *args, env=env, cwd=ROOT,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            )  # fmt: skip
        return cls(process)

    async def fork(self, line: str) -> int:
        """The new child's pid; the first call also waits out the fork server's warm-up."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()
        answer = await self.process.stdout.readline()
        assert answer, f"the fork server exited ({self.process.returncode})"
        return int(answer)

    async def close(self) -> None:
        """Close its stdin (it exits; children still alive die with it) and reap it."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), GRACE_SECONDS)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def _stderr(log: str | None) -> BinaryIO:
    return open(log or os.devnull, "ab")  # closed by the caller's `with`


def alive(pid: int) -> bool:
    """Fork servers ignore SIGCHLD, so a dead child is reaped at once: no zombie answers."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def kill(pid: int) -> None:
    """SIGKILL, and return once the process is gone (its port and locks are free)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    await _gone(pid, within=None)


async def stop(pid: int | None) -> None:
    """SIGTERM (a graceful stop), then SIGKILL if it is still there after the grace."""
    if pid is None or not alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not await _gone(pid, within=GRACE_SECONDS):
        await kill(pid)


async def _gone(pid: int, within: float | None) -> bool:
    """Whether the process is gone within `within` seconds (None: wait until it is)."""
    deadline = None if within is None else time.monotonic() + within
    while alive(pid):
        if deadline is not None and time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.005)
    return True
