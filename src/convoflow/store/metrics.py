"""The figures `/metrics` reads from the database at scrape time (every process shares
them, so they are counted where they live, not in any one process's memory)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import executions, jobs, outbox

_EXECUTIONS_BY_STATUS = sa.select(executions.c.status, sa.func.count()).group_by(
    executions.c.status
)
_JOBS_BY_KIND = sa.select(
    jobs.c.kind,
    sa.func.count(),
    sa.func.count().filter(jobs.c.run_at <= sa.bindparam("b_now")),
    sa.func.min(jobs.c.run_at).filter(jobs.c.run_at <= sa.bindparam("b_now")),
).group_by(jobs.c.kind)
_UNSENT = outbox.c.status.in_(("pending", "sending"))
# Uncertain rows are counted apart: attempts a crash left without a result, held for a
# status webhook (store/outbox.py), probably sent already; not a queue that lags.
_OUTBOX_UNSENT = sa.select(
    sa.func.count().filter(_UNSENT),
    sa.func.min(outbox.c.created_at).filter(_UNSENT),
    sa.func.count().filter(outbox.c.status == "uncertain"),
).where(outbox.c.status.in_(("pending", "sending", "uncertain")))


@dataclass
class StoreFigures:
    executions_by_status: dict[str, int] = field(default_factory=dict)
    jobs_by_kind: dict[str, int] = field(default_factory=dict)
    due_jobs_by_kind: dict[str, int] = field(default_factory=dict)
    oldest_due_by_kind: dict[str, datetime] = field(default_factory=dict)
    outbox_unsent: int = 0
    oldest_unsent_at: datetime | None = None
    outbox_uncertain: int = 0


async def read_figures(conn: AsyncConnection, now: datetime) -> StoreFigures:
    figures = StoreFigures()
    for status, count in (await conn.execute(_EXECUTIONS_BY_STATUS)).all():
        figures.executions_by_status[str(status)] = int(count)
    for kind, count, due, oldest in (await conn.execute(_JOBS_BY_KIND, {"b_now": now})).all():
        figures.jobs_by_kind[str(kind)] = int(count)
        figures.due_jobs_by_kind[str(kind)] = int(due)
        if oldest is not None:
            figures.oldest_due_by_kind[str(kind)] = oldest
    unsent, oldest_unsent, uncertain = (await conn.execute(_OUTBOX_UNSENT)).one()
    figures.outbox_unsent = int(unsent)
    figures.oldest_unsent_at = oldest_unsent
    figures.outbox_uncertain = int(uncertain)
    return figures
