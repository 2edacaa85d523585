"""Send pacing: a token bucket per sending number and a minimum gap per conversation.

Both are the generic cell-rate algorithm: each key keeps a "theoretical arrival time";
a caller reserves the next slot and sleeps until it. Reserving is synchronous (no
awaits), so concurrent tasks on one event loop never race for the same slot. Limits are
per process: with several workers, give each a share of Meta's per-number throughput.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

_PRUNE_AT = 10_000  # keys kept before idle ones are dropped (memory bound)


class RateLimiter:
    """`rate` events per second per key, allowing bursts of `burst` back to back."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.burst = max(1, burst)
        self._clock = clock
        self._next: dict[str, float] = {}

    def reserve(self, key: str) -> float:
        """Take the next slot for `key`; returns how long to wait before using it."""
        if self.interval <= 0:
            return 0.0
        now = self._clock()
        if len(self._next) > _PRUNE_AT:
            self._prune(now)
        arrival = max(self._next.get(key, now), now) + self.interval
        self._next[key] = arrival
        return max(0.0, arrival - now - self.burst * self.interval)

    async def acquire(self, key: str) -> None:
        delay = self.reserve(key)
        if delay > 0:
            await asyncio.sleep(delay)

    def _prune(self, now: float) -> None:
        for key in [k for k, arrival in self._next.items() if arrival <= now]:
            del self._next[key]
