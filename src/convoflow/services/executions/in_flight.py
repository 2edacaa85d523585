"""Executions this process is resuming right now, so that a concurrent second resume of
the same execution is refused (409) at once rather than queued behind the first (on
SQLite, whose single writer would make it wait; PostgreSQL also refuses through
`FOR UPDATE NOWAIT`).

State of one `Process` (built by `process.build_process`), not of the Python module: two
processes built in one interpreter (tests, `convoflow test`'s throwaway process inside a
server) do not see each other's resumes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from convoflow.services.common import Conflict


class ResumesInFlight:
    def __init__(self) -> None:
        self._ids: set[str] = set()

    @contextmanager
    def claim(self, execution_id: str) -> Iterator[None]:
        """Hold `execution_id` while its resume runs; `Conflict` if one already does."""
        if execution_id in self._ids:
            raise busy(execution_id)
        self._ids.add(execution_id)
        try:
            yield
        finally:
            self._ids.discard(execution_id)


def busy(execution_id: str) -> Conflict:
    return Conflict(
        f"execution {execution_id} is being resumed or advanced by another request; retry shortly"
    )
