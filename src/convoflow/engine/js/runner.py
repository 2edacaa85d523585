"""Run JavaScript functions in worker processes holding V8 isolates (see child.py).

The server never runs V8 on its event loop: a call is a JSON line to a worker and the
answers come back on a pipe, so an infinite loop costs a worker, not the server. A worker
keeps compiled isolates warm (keyed by function id and version); a timed-out or
out-of-memory worker exits and the next call starts a fresh one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

HostCall = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
_LINE_LIMIT = 32 * 1024 * 1024
# Beyond the run-time limit the worker enforces itself: for a worker that cannot answer.
_GRACE_SECONDS = 5.0
# A run's deadline in the server: the limit, plus the time to hear the worker's own answer.
_RUN_MARGIN_SECONDS = 0.5


def _worker_environment() -> dict[str, str]:
    """Only what Python needs to start: not the server's secrets (CONVOFLOW_SECRET_KEY, the
    database URL), which a V8 escape would otherwise find in the worker's environment."""
    keep = ("PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL", "VIRTUAL_ENV", "TMPDIR")
    return {name: os.environ[name] for name in keep if name in os.environ}


@dataclass(frozen=True)
class JsResult:
    ok: bool
    status: int
    headers: dict[str, str]
    body: str
    logs: list[dict[str, Any]]
    error: str | None = None
    cold: bool = False
    duration_ms: int | None = None


@dataclass
class _Worker:
    process: asyncio.subprocess.Process

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        await self.process.stdin.drain()

    async def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise ConnectionError("the JavaScript worker exited")
        message: dict[str, Any] = json.loads(line)
        return message

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


@dataclass
class JsRunner:
    """`timeout_seconds` bounds one invocation's run time, `max_memory_bytes` its isolate's
    heap; `workers` is how many invocations run at once."""

    timeout_seconds: float = 5.0
    max_memory_bytes: int = 64 * 1024 * 1024
    workers: int = 2
    _idle: list[_Worker] = field(default_factory=list)
    _slots: asyncio.Semaphore | None = None

    async def _take(self) -> _Worker:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.workers)
        await self._slots.acquire()
        while self._idle:
            worker = self._idle.pop()
            if worker.process.returncode is None:
                return worker
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "convoflow.engine.js.child",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=_LINE_LIMIT,
                env=_worker_environment(),
            )  # fmt: skip
        except BaseException:
            self._slots.release()
            raise
        return _Worker(process)

    def _give_back(self, worker: _Worker, healthy: bool) -> None:
        if healthy and worker.process.returncode is None:
            self._idle.append(worker)
        else:
            worker.kill()
        assert self._slots is not None
        self._slots.release()

    async def check(self, code: str) -> dict[str, Any]:
        """Compile `code`: {"error": None} or {"error", "line", "column"}."""
        worker = await self._take()
        healthy = False
        message = {
            "op": "check", "code": code,
            "timeout": self.timeout_seconds, "max_memory": self.max_memory_bytes,
        }  # fmt: skip
        try:
            await worker.send(message)
            answer = await asyncio.wait_for(worker.receive(), self.timeout_seconds + _GRACE_SECONDS)
            healthy = True
            return answer
        except (TimeoutError, ConnectionError):
            return {"error": f"the code could not be checked within {self.timeout_seconds:g} s"}
        finally:
            self._give_back(worker, healthy)

    async def run(
        self, key: str, code: str, request: dict[str, Any], secrets: dict[str, Any], host: HostCall
    ) -> JsResult:
        worker = await self._take()
        healthy = False
        started = time.perf_counter()
        try:
            # The worker stops a run itself, but not always: a script spinning in a
            # microtask can block its event loop too. So the deadline is kept here.
            answer = await asyncio.wait_for(
                self._exchange(worker, key, code, request, secrets, host),
                self.timeout_seconds + _RUN_MARGIN_SECONDS,
            )
            healthy = not answer.get("fatal")
        except TimeoutError:
            answer = {"error": f"timed out after {self.timeout_seconds:g} s of run time"}
        except ConnectionError as exc:
            answer = {"error": str(exc)}
        finally:
            self._give_back(worker, healthy)
        duration_ms = round((time.perf_counter() - started) * 1000)
        cold = bool(answer.get("cold"))
        if answer.get("error") is not None:
            return JsResult(False, 500, {}, "", [], str(answer["error"]), cold, duration_ms)
        result = answer["result"]
        return JsResult(
            True, int(result["status"]), dict(result["headers"]), str(result["body"]),
            list(result["logs"]), None, cold, duration_ms,
        )  # fmt: skip

    async def _exchange(
        self, worker: _Worker, key: str, code: str, request: dict[str, Any],
        secrets: dict[str, Any], host: HostCall,
    ) -> dict[str, Any]:  # fmt: skip
        await worker.send(
            {
                "op": "run",
                "key": key,
                "code": code,
                "request": request,
                "secrets": secrets,
                "timeout": self.timeout_seconds,
                "max_memory": self.max_memory_bytes,
            }
        )
        while True:
            message = await worker.receive()
            if message["op"] != "host":
                return message
            try:
                value = await host(str(message["name"]), json.loads(message["args"]))
            except Exception as exc:  # a host call's failure is the function's to handle
                value = {"error": str(exc)}
            await worker.send(
                {"op": "reply", "call_id": message["call_id"], "value": json.dumps(value)}
            )

    async def close(self) -> None:
        for worker in self._idle:
            worker.kill()
            await worker.process.wait()
        self._idle.clear()
