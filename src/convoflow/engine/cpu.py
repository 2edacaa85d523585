"""CPU-bound work kept away from the event loop: checking, normalising and compiling
large workflow definitions.

A worker thread is not enough: it shares the GIL with the event loop, which then waits a
switch interval (5 ms) each time it wants the GIL back, and pydantic's validation of a
whole definition is one call that never lets go of it. A 2 MB definition is about a
second of CPU, and `/healthz` answered in 361 ms p99 while such definitions were posted
(BENCHMARKS.md). So large work runs in a small pool of worker processes: spawned (a clean
interpreter, whatever threads the server runs), started on first use, shut down with the
app and with the `Process` that built it (`convoflow.process.build_process`). Small work
stays in a thread: the round trip to a process (pickling both ways) costs more than it
saves.

What crosses the boundary is plain data (definitions as dicts, compiled graphs, domain
errors), pickled; the functions are module-level so a spawned worker can import them.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Below this many nodes + edges (roughly 64 KB of definition) a thread is cheaper.
POOL_MIN_ITEMS = 200
PARENT_CHECK_SECONDS = 1.0


def definition_items(definition: Any) -> int:
    """How much work a definition is: its nodes plus its edges (0 if not a definition)."""
    if not isinstance(definition, dict):
        return 0
    return sum(len(v) for k in ("nodes", "edges") if isinstance(v := definition.get(k), list))


class CpuPool:
    """Runs pure CPU-bound functions off the event loop: in a worker process when the
    work is large and the pool has workers (`workers` 0: always a thread)."""

    def __init__(self, workers: int, *, min_items: int = POOL_MIN_ITEMS) -> None:
        self.workers = workers
        self.min_items = min_items
        self.process_calls = 0  # calls handed to a worker process (tests, diagnostics)
        # Started on first use: a process that never sees a large definition (the CLI,
        # most tests, a forked server) spawns nothing and holds no pipes or semaphores.
        self._executor: ProcessPoolExecutor | None = None
        self._closed = workers <= 0

    def _started(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._executor

    async def run(
        self,
        items: int,
        function: Callable[..., T],
        *args: Any,
        in_process: Callable[..., T] | None = None,
    ) -> T:
        """`function(*args)` off the loop; `items` says how large the work is
        (`definition_items`). `in_process`, if given, replaces `function` when the work
        goes to a worker process: the same answer in a form cheaper to send back.
        Exceptions `function` raises reach the caller as they are."""
        if items < self.min_items or self._closed:
            return await asyncio.to_thread(function, *args)
        return await self.run_in_process(in_process or function, *args)

    async def run_in_process(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a worker process whatever its size (a thread if the pool
        has no workers or is shut down), for callers that measured the work themselves."""
        if self._closed:
            return await asyncio.to_thread(function, *args)
        executor = self._started()
        self.process_calls += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, function, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the executor is unusable from now on.
            # The next call starts a new one; this one runs in a thread.
            log.warning("cpu pool broken; starting a new one", function=function.__name__)
            if self._executor is executor:
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            return await asyncio.to_thread(function, *args)

    def shutdown(self) -> None:
        """Stop the worker processes (waits for running calls; queued ones are dropped);
        later calls run in threads. Idempotent: the app's shutdown and Process.close both
        call it."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: a server killed with SIGKILL cannot shut its pool down, and a
    worker waiting for work would otherwise outlive it forever."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
