"""The loop every live stream runs: read what changed since the last read, hand it over,
then wait for the next commit (the notifier's pulse) or a poll interval, whichever comes
first. No database connection is held between reads: a stream that waits costs a task.

Where the pulse comes from: the committer after each commit of this process, and on
PostgreSQL every NOTIFY from another process (jobs and outbox rows). A commit nobody
announces (another process's send on SQLite, a receipt) is seen at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from convoflow.services.process import Process
from convoflow.store.streams import BATCH

# After a pulse, at most one read per stream per this long: a burst of commits costs each
# stream one read, not one per commit.
MIN_GAP_SECONDS = 0.01
# Time-ordered feeds re-read this far before their position: a transaction that took its
# time from the clock earlier can commit after one that read it later.
MARGIN = timedelta(seconds=5)
# How often a stream asks whether its caller may still read it (a revoked key ends it).
ALLOWED_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Change:
    """One thing to send: `kind` names it (the SSE event), `position` is where a
    reconnect resumes (the SSE id), `value` the rows or domain result the API renders."""

    kind: str
    position: int
    value: Any


class Feed(Protocol):
    async def read(self) -> list[Change]:
        """What changed since the previous read, oldest first; moves the feed along."""
        ...


async def follow(
    engine: Process, feed: Feed, still_allowed: Callable[[], Awaitable[bool]] | None = None
) -> AsyncIterator[list[Change]]:
    """The feed's changes as they are committed, until `still_allowed` says no (checked
    at most every ALLOWED_CHECK_SECONDS: an API key revoked while its stream is open ends
    the stream) or the caller stops iterating. Without a pulse it reads again after
    `stream_poll_seconds` (the fallback for commits no notification announces)."""
    notifier = engine.runtime.notifier
    poll_seconds = engine.runtime.settings.stream_poll_seconds
    loop = asyncio.get_running_loop()
    checked = loop.time()

    async def allowed() -> bool:
        nonlocal checked
        if still_allowed is None or loop.time() - checked < ALLOWED_CHECK_SECONDS:
            return True
        checked = loop.time()
        return await still_allowed()

    while await allowed():
        # Taken before the read: a commit during the read wakes the wait below.
        changed = notifier.next_change()
        changes = await feed.read()
        read_at = loop.time()
        if changes:
            yield changes
            if len(changes) >= BATCH:
                continue
        # Wait for a pulse or the poll; wake meanwhile only to check the caller.
        while not changed.is_set() and loop.time() - read_at < poll_seconds:
            timeout = poll_seconds - (loop.time() - read_at)
            if still_allowed is not None:
                timeout = min(timeout, ALLOWED_CHECK_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
            if not await allowed():
                return
        if changed.is_set():
            await asyncio.sleep(MIN_GAP_SECONDS)


# The latest position a time-ordered feed accepts (9999-01-01, within what a datetime
# holds after float rounding): a later Last-Event-ID is refused up front instead of
# breaking the stream on its first read.
MAX_MICROS = 253_370_764_800_000_000


def micros(moment: datetime) -> int:
    """A time as the integer position of a time-ordered feed."""
    return int(moment.timestamp() * 1_000_000)


def from_micros(position: int) -> datetime:
    return datetime.fromtimestamp(position / 1_000_000, UTC)


class SeenSince:
    """What a time-ordered feed already sent within its margin: rows are read again from
    a little before the position, and only those new or changed are sent again."""

    def __init__(self, position: int) -> None:
        self.position = position
        self._sent: dict[str, datetime] = {}

    @property
    def since(self) -> datetime:
        return from_micros(self.position) - MARGIN

    def fresh(self, key: str, moment: datetime) -> bool:
        """True once per (key, moment): the row is new or changed since it was sent."""
        if self._sent.get(key) == moment:
            return False
        self._sent[key] = moment
        self.position = max(self.position, micros(moment))
        return True

    def forget_old(self) -> None:
        floor = self.since
        self._sent = {key: at for key, at in self._sent.items() if at >= floor}
