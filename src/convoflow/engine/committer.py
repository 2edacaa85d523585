"""Group commit: many small write operations share one transaction.

While one batch commits, new operations queue up and form
the next batch, so under load the cost of a durable commit (an fsync on SQLite with
synchronous=FULL, a WAL flush on PostgreSQL) is shared; with one caller a batch is one
operation and nothing waits. Operations must only touch the database (no network), and
must be safe to run again: after a failed commit each is retried alone.

There are no per-operation savepoints: they cost two statements per operation. An
operation that raises before writing anything (a 404, a 409, a validation error) leaves
the shared transaction untouched and fails alone; one that raises after a write or with
a database error makes the whole batch roll back and be retried operation by operation
(`store.db` marks every data-changing statement on the connection).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.db import WROTE, Database
from convoflow.store.faults import DatabaseUnavailable

T = TypeVar("T")
AfterCommit = Callable[[], None]
Operation = Callable[[AsyncConnection, list[AfterCommit]], Awaitable[T]]

log = structlog.get_logger(__name__)


@dataclass
class _Pending(Generic[T]):
    op: Operation[T]
    future: asyncio.Future[T]
    hooks: list[AfterCommit] = field(default_factory=list)


@dataclass
class CommitStats:
    commits: int = 0
    operations: int = 0
    retried_alone: int = 0


class GroupCommitter:
    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 128,
        lanes: int | None = None,
        on_commit: AfterCommit | None = None,
    ) -> None:
        """`on_commit` runs after every committed transaction (the notifier's
        `data_changed`, which wakes the API's live streams)."""
        self.db = db
        self.on_commit = on_commit
        self.max_batch = max_batch
        # Lanes are batches in flight at once, each on its own connection. SQLite has one
        # writer, so one lane. On PostgreSQL a batch spends most of its time waiting for
        # round trips; a few lanes keep the process busy meanwhile (the lanes' row locks
        # serialise any two operations on the same execution).
        self.lanes = lanes or db.backend.write_lanes
        self.stats = CommitStats()
        self._queue: list[_Pending[Any]] = []
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    async def run(self, op: Operation[T]) -> T:
        """Run `op` in a write transaction and return its result once committed."""
        if self._closed:
            raise RuntimeError("committer is closed")
        loop = asyncio.get_running_loop()
        pending: _Pending[T] = _Pending(op, loop.create_future())
        self._queue.append(pending)
        self._wakeup.set()
        if len(self._tasks) < self.lanes or any(task.done() for task in self._tasks):
            self._tasks = [task for task in self._tasks if not task.done()]
            while len(self._tasks) < self.lanes:
                self._tasks.append(loop.create_task(self._loop(), name="group-committer"))
        return await pending.future

    async def run_until_committed(self, op: Operation[T], *, within: float) -> T:
        """`run`, tried again while the database is unavailable, for up to `within`
        seconds: for a result that exists only in memory until it is recorded (a send the
        provider accepted), where giving up means doing the work again."""
        deadline = time.monotonic() + within
        delay = 0.05
        while True:
            try:
                return await self.run(op)
            except DatabaseUnavailable:
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(1.0, delay * 2)

    async def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        if self._tasks:
            await asyncio.gather(*self._tasks)

    async def _loop(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            share = -(-len(self._queue) // self.lanes)  # spread a burst over the lanes
            batch = self._queue[: max(1, min(self.max_batch, share))]
            del self._queue[: len(batch)]
            try:
                await self._run_batch(batch)
            except Exception as exc:  # the loop must survive anything
                log.exception("group commit failed", error=str(exc))
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    async def _run_batch(self, batch: list[_Pending[Any]]) -> None:
        if len(batch) == 1:
            await self._run_alone(batch[0])
            return

        async def body(conn: AsyncConnection) -> list[tuple[_Pending[Any], bool, Any]]:
            results: list[tuple[_Pending[Any], bool, Any]] = []
            for item in batch:
                item.hooks = []
                conn.info[WROTE] = False
                try:
                    value = await item.op(conn, item.hooks)
                except Exception as exc:
                    # No savepoints (they cost two statements per operation): an
                    # operation that fails before writing anything, with no database
                    # error, leaves the transaction as it was. Anything else taints the
                    # batch, which is then rolled back and retried operation by operation.
                    if conn.info[WROTE] or isinstance(exc, DBAPIError):
                        raise TaintedBatch() from exc
                    results.append((item, False, exc))
                    continue
                results.append((item, True, value))
            return results

        try:
            results = await self.db.run_write(body)
        except Exception as exc:
            # Nothing of this batch committed: an operation failed half-way, or the
            # shared transaction is gone (deadlock victim, serialization failure, lost
            # connection). Retry each operation alone, in its own transaction.
            if not isinstance(exc, TaintedBatch):
                log.warning("batch commit failed; retrying operations alone", error=str(exc))
            self.stats.retried_alone += len(batch)
            for item in batch:
                await self._run_alone(item)
            return
        self.stats.commits += 1
        self.stats.operations += len(batch)
        self._committed()
        for item, ok, value in results:
            if ok:
                _run_hooks(item.hooks)
                item.future.set_result(value)
            else:
                item.future.set_exception(value)

    def _committed(self) -> None:
        if self.on_commit is not None:
            _run_hooks([self.on_commit])

    async def _run_alone(self, item: _Pending[Any], attempts: int = 3) -> None:
        for attempt in range(attempts):
            item.hooks = []

            async def body(conn: AsyncConnection, item: _Pending[Any] = item) -> Any:
                return await item.op(conn, item.hooks)

            try:
                value = await self.db.run_write(body)
            except Exception as exc:
                if _is_retryable(exc) and attempt + 1 < attempts:
                    await asyncio.sleep(0.01 * (attempt + 1))
                    continue
                if not item.future.done():
                    item.future.set_exception(exc)
                return
            self.stats.commits += 1
            self.stats.operations += 1
            self._committed()
            _run_hooks(item.hooks)
            if not item.future.done():
                item.future.set_result(value)
            return


class TaintedBatch(Exception):
    """An operation failed after writing (or with a database error) inside a batch."""


def _run_hooks(hooks: list[AfterCommit]) -> None:
    for hook in hooks:
        try:
            hook()
        except Exception:
            log.exception("after-commit hook failed")


_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseUnavailable):
        # Often a pooled connection that died with a restart: the pool has been recycled
        # and the next attempt gets a fresh one. If the server is really down, the
        # attempts fail fast (connection refused) and the caller sees the error.
        return True
    if isinstance(exc, DBAPIError):
        if _sqlstate(exc) in _RETRYABLE_SQLSTATES:
            return True
        return "database is locked" in str(exc)
    return False
