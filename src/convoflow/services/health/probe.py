"""The database probe behind `GET /healthz`.

A health check that pings the database on every call costs a round trip each time, and
on a busy PostgreSQL machine that round trip waits for the server's backend to be
scheduled and for a pooled connection (p99 86 – 106 ms at load ~10, BENCHMARKS.md
"Limits"), so the check reported the machine's load rather than the process's health.
Instead one background task per process pings every PROBE_INTERVAL_SECONDS and a check
answers from its last result while that result is a success at most FRESH_SECONDS old.
A failed or stale last result is never served: the check pings inline (joining the ping
already in flight, so a burst of checks against a dead database costs one connection
attempt at a time), so a database that went away shows within one interval plus a
refused connection, and one that came back shows at the next check.

Owned by one `Process` (built in convoflow/process.py, started by the API's lifespan,
stopped with the process); time is the monotonic clock, not the process's `Clock`,
which tests freeze.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

PROBE_INTERVAL_SECONDS = 0.5
# Three intervals: a ping slowed by a loaded machine does not make the last one stale.
FRESH_SECONDS = 1.5
# A database that neither answers nor refuses (a network cut) is unhealthy after this;
# a ping still running then is cancelled.
PING_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class DatabaseCheck:
    """One ping's outcome: `error` is None when the database answered; `finished` is the
    monotonic time it ended."""

    error: str | None
    finished: float

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class DatabaseHealth:
    """What a check answers: the database's error (None: healthy) and how long ago it
    was checked."""

    error: str | None
    age_seconds: float


class DatabaseProbe:
    def __init__(
        self,
        ping: Callable[[], Awaitable[None]],
        *,
        interval: float = PROBE_INTERVAL_SECONDS,
        fresh_for: float = FRESH_SECONDS,
        timeout: float = PING_TIMEOUT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`ping`: one round trip to the database, raising when it fails (`Database.ping`)."""
        self._ping = ping
        self.interval = interval
        self.fresh_for = fresh_for
        self.timeout = timeout
        self._monotonic = monotonic
        self._last: DatabaseCheck | None = None
        self._in_flight: asyncio.Task[DatabaseCheck] | None = None
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Ping in the background from now on (in the running event loop); idempotent."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(), name="database-probe")

    async def stop(self) -> None:
        tasks = [t for t in (self._loop_task, self._in_flight) if t is not None]
        self._loop_task = self._in_flight = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def check(self) -> DatabaseHealth:
        """The last result if it is a fresh success, else a ping's (inline)."""
        last = self._last
        if last is None or not last.ok or self._age(last) > self.fresh_for:
            last = await self._ping_shared()
        return DatabaseHealth(error=last.error, age_seconds=self._age(last))

    def _age(self, check: DatabaseCheck) -> float:
        return max(0.0, self._monotonic() - check.finished)

    async def _run(self) -> None:
        while True:
            await self._ping_shared()
            await asyncio.sleep(self.interval)

    async def _ping_shared(self) -> DatabaseCheck:
        """The ping in flight, or a new one. Shielded: a check whose client goes away
        does not cancel the ping others wait for."""
        if self._in_flight is None or self._in_flight.done():
            self._in_flight = asyncio.create_task(self._ping_once(), name="database-ping")
        return await asyncio.shield(self._in_flight)

    async def _ping_once(self) -> DatabaseCheck:
        error: str | None = None
        try:
            await asyncio.wait_for(self._ping(), self.timeout)
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
        except Exception as exc:  # any database failure means "not healthy", never a 500
            error = str(exc) or type(exc).__name__
        check = DatabaseCheck(error=error, finished=self._monotonic())
        self._last = check
        return check
