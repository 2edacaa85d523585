"""How many live streams each API key holds open in this process, up to a cap
(`CONVOFLOW_MAX_STREAMS_PER_KEY`): a stream waits cheaply (a task, no connection), but
thousands of them from one tenant would still hold the server's sockets, tasks and reads.

Counted in memory per `Process` (like the rate limits): with N API processes behind a
balancer a key may hold up to N times the cap. Taking a slot is synchronous (no await
between the check and the count), so concurrent requests on one event loop cannot both
take the last one. Whoever takes a slot gives it back exactly once, whatever ends the
stream (api/routes/streams.py ties it to the response's own lifetime).
"""

from __future__ import annotations

from convoflow.services.common import TooMany

# What a refused client is told to wait: a slot comes back when one of its own streams
# closes, which no server-side clock predicts; a few seconds keeps retries cheap.
RETRY_AFTER_SECONDS = 5


class StreamSlot:
    """One open stream's place in its key's count; `release` is idempotent."""

    def __init__(self, slots: StreamSlots, key: str) -> None:
        self._slots = slots
        self._key = key
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots._give_back(self._key)


class StreamSlots:
    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._open: dict[str, int] = {}

    def take(self, key: str) -> StreamSlot:
        """A slot for one more stream of `key`; TooMany when it holds `per_key` already."""
        held = self._open.get(key, 0)
        if held >= self.per_key:
            raise TooMany(
                f"Too many live streams open for this API key: at most {self.per_key} at once "
                "per server process (CONVOFLOW_MAX_STREAMS_PER_KEY); close one of them and "
                "retry",
                RETRY_AFTER_SECONDS,
            )
        self._open[key] = held + 1
        return StreamSlot(self, key)

    def held(self, key: str) -> int:
        """How many streams `key` holds open now."""
        return self._open.get(key, 0)

    def _give_back(self, key: str) -> None:
        left = self._open.get(key, 0) - 1
        if left > 0:
            self._open[key] = left
        else:
            # Keys with no stream open cost nothing: a long-lived process does not grow.
            self._open.pop(key, None)
