"""`/metrics`: the process's counters plus the database's figures, read at scrape time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from sqlalchemy.exc import SQLAlchemyError

from convoflow.store.metrics import read_figures

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
    return engine.runtime.metrics.render(figures, now)
