"""`/metrics`: the process's counters plus the database's figures, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.exc import SQLAlchemyError

from convoflow.engine.jobs import DEFAULT_HANDLERS
from convoflow.engine.status import ALL_STATUSES
from convoflow.store.metrics import StoreFigures, read_figures

if TYPE_CHECKING:
    from convoflow.services.process import Process

log = structlog.get_logger(__name__)


async def scrape(engine: Process) -> bytes:
    """The Prometheus text exposition. With the database unreachable, the process's own
    metrics are still served (without the database gauges): the scrape is how an operator
    finds out."""
    now = engine.clock.now()
    try:
        async with engine.db.read() as conn:
            figures = await read_figures(conn, now)
    except SQLAlchemyError as exc:
        log.warning("metrics: database figures unavailable", error=type(exc).__name__)
        figures = None
    if figures is not None:
        _zero_filled(figures, job_kinds=[*DEFAULT_HANDLERS, *engine.runtime.job_handlers])
    return engine.runtime.metrics.render(figures, now)


def _zero_filled(figures: StoreFigures, job_kinds: Iterable[str]) -> None:
    """Every execution status and every job kind this process knows gets a sample, 0 when
    the database has none: a series that appears only once it is non-zero cannot be
    graphed or alerted on from the start (and `rate()` misses its first increase)."""
    for status in ALL_STATUSES:
        figures.executions_by_status.setdefault(status, 0)
    for kind in job_kinds:
        figures.jobs_by_kind.setdefault(kind, 0)
