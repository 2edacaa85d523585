"""How many live streams each API key, and each project, holds open in this process, up
to caps (`CONVOFLOW_MAX_STREAMS_PER_KEY`, `CONVOFLOW_MAX_STREAMS_PER_PROJECT`): a stream
waits cheaply (a task, no connection), but thousands of them from one tenant would still
hold the server's sockets, tasks and reads. The project cap is what bounds a tenant: a
project can mint as many keys as it likes (POST /api_keys), each with its own key cap.

Counted in memory per `Process` (like the rate limits): with N API processes behind a
balancer a key may hold up to N times the cap. Taking a slot is synchronous (no await
between the checks and the counts), so concurrent requests on one event loop cannot both
take the last one. Whoever takes a slot gives it back exactly once, whatever ends the
stream (api/routes/streams.py ties it to the response's own lifetime).
"""

from __future__ import annotations

from convoflow.services.common import TooMany

# What a refused client is told to wait: a slot comes back when one of its own streams
# closes, which no server-side clock predicts; a few seconds keeps retries cheap.
RETRY_AFTER_SECONDS = 5


class StreamSlot:
    """One open stream's place in its key's and its project's counts; `release` is
    idempotent."""

    def __init__(self, slots: StreamSlots, key: str, project: str) -> None:
        self._slots = slots
        self._key = key
        self._project = project
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots._give_back(self._key, self._project)


class StreamSlots:
    def __init__(self, per_key: int, per_project: int) -> None:
        self.per_key = per_key
        self.per_project = per_project
        self._by_key: dict[str, int] = {}
        self._by_project: dict[str, int] = {}

    def take(self, key: str, project: str) -> StreamSlot:
        """A slot for one more stream of `key` in `project`; TooMany when the key holds
        `per_key` already or the project (all its keys) `per_project`."""
        by_key = self._by_key.get(key, 0)
        by_project = self._by_project.get(project, 0)
        if by_key >= self.per_key:
            raise TooMany(
                f"Too many live streams open for this API key: at most {self.per_key} at once "
                "per server process (CONVOFLOW_MAX_STREAMS_PER_KEY); close one of them and "
                "retry",
                RETRY_AFTER_SECONDS,
            )
        if by_project >= self.per_project:
            raise TooMany(
                "Too many live streams open for this project: at most "
                f"{self.per_project} at once across its API keys per server process "
                "(CONVOFLOW_MAX_STREAMS_PER_PROJECT); close one of them and retry",
                RETRY_AFTER_SECONDS,
            )
        self._by_key[key] = by_key + 1
        self._by_project[project] = by_project + 1
        return StreamSlot(self, key, project)

    def held(self, key: str) -> int:
        """How many streams `key` holds open now."""
        return self._by_key.get(key, 0)

    def held_by_project(self, project: str) -> int:
        """How many streams the keys of `project` hold open now."""
        return self._by_project.get(project, 0)

    def _give_back(self, key: str, project: str) -> None:
        _decrement(self._by_key, key)
        _decrement(self._by_project, project)


def _decrement(counts: dict[str, int], name: str) -> None:
    left = counts.get(name, 0) - 1
    if left > 0:
        counts[name] = left
    else:
        # Names with no stream open cost nothing: a long-lived process does not grow.
        counts.pop(name, None)
