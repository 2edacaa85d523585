"""SQL for the jobs table: timers and deferred work, claimed with leases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store import dialects
from convoflow.store.schema import executions, jobs

_INSERT_SKIPPING_DUPLICATES = dialects.per_dialect(
    lambda d: d.insert_ignoring(jobs, ["dedupe_key"])
)
_DELETE_ONE = sa.delete(jobs).where(jobs.c.id == sa.bindparam("job_id"))
_DELETE_MANY = sa.delete(jobs).where(jobs.c.id.in_(sa.bindparam("job_ids", expanding=True)))
_DELETE_TIMERS = (
    sa.delete(jobs)
    .where(jobs.c.execution_id == sa.bindparam("execution_id"))
    .where(jobs.c.kind == "timer")
)


async def insert_jobs(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert jobs; a row whose dedupe_key already exists is skipped (already scheduled)."""
    if rows:
        await conn.execute(_INSERT_SKIPPING_DUPLICATES[conn.dialect.name], rows)


async def delete_jobs(conn: AsyncConnection, job_ids: list[int]) -> None:
    if len(job_ids) == 1:
        await conn.execute(_DELETE_ONE, {"job_id": job_ids[0]})
    elif job_ids:
        await conn.execute(_DELETE_MANY, {"job_ids": list(job_ids)})


async def delete_execution_timers(conn: AsyncConnection, execution_id: str) -> None:
    await conn.execute(_DELETE_TIMERS, {"execution_id": execution_id})


def _claim_statement(kinds: bool = False, *, chosen: bool = False) -> sa.Update:
    """Lease unlocked jobs: the due ones (of some kinds), or `chosen` ones by id whatever
    their time (a sandbox conversation's timers fired early)."""
    candidates = (
        sa.select(jobs.c.id)
        .where(sa.or_(jobs.c.locked_until.is_(None), jobs.c.locked_until < sa.bindparam("b_now")))
        .order_by(jobs.c.run_at, jobs.c.id)
        .limit(sa.bindparam("b_limit"))
        .with_for_update(skip_locked=True)
    )
    if chosen:
        candidates = candidates.where(jobs.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    else:
        candidates = candidates.where(jobs.c.run_at <= sa.bindparam("b_now"))
    if kinds:
        candidates = candidates.where(jobs.c.kind.in_(sa.bindparam("b_kinds", expanding=True)))
    return (
        sa.update(jobs)
        .where(jobs.c.id.in_(candidates.scalar_subquery()))
        .values(
            locked_by=sa.bindparam("b_worker_id"),
            locked_until=sa.bindparam("b_locked_until"),
            attempts=jobs.c.attempts + 1,
        )
        .returning(
            jobs.c.id,
            jobs.c.kind,
            jobs.c.execution_id,
            jobs.c.dedupe_key,
            jobs.c.expected_version,
            jobs.c.payload,
            jobs.c.attempts,
            jobs.c.run_at,
        )
    )


# Built once: the worker claims on every round.
_CLAIM = _claim_statement(kinds=False)
_CLAIM_KINDS = _claim_statement(kinds=True)
_CLAIM_CHOSEN = _claim_statement(chosen=True)
_CONVERSATION_TIMERS = (
    sa.select(
        jobs.c.id,
        jobs.c.execution_id,
        jobs.c.run_at,
        jobs.c.payload,
        executions.c.updated_at.label("execution_updated_at"),
    )
    .join(executions, executions.c.id == jobs.c.execution_id)
    .where(executions.c.conversation_id == sa.bindparam("conversation_id"))
    .where(jobs.c.kind == "timer")
    .order_by(jobs.c.run_at, jobs.c.id)
)
_NEXT_DUE = sa.select(sa.func.min(jobs.c.run_at))
_RELEASE = (
    sa.update(jobs)
    .where(jobs.c.id == sa.bindparam("b_job_id"))
    .values(
        locked_by=None,
        locked_until=None,
        run_at=sa.bindparam("b_run_at"),
        last_error=sa.bindparam("b_error"),
    )
)


async def claim_due_jobs(
    conn: AsyncConnection,
    *,
    worker_id: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
    kinds: tuple[str, ...] | None = None,
) -> list[sa.RowMapping]:
    """Lease up to `limit` due jobs. On PostgreSQL, SKIP LOCKED lets many workers claim
    disjoint batches at once; on SQLite the statement runs without it (one writer)."""
    params: dict[str, Any] = {
        "b_now": now,
        "b_limit": limit,
        "b_worker_id": worker_id,
        "b_locked_until": now + timedelta(seconds=lease_seconds),
    }
    if kinds:
        params["b_kinds"] = list(kinds)
    result = await conn.execute(_CLAIM_KINDS if kinds else _CLAIM, params)
    return list(result.mappings().all())


async def next_due_at(conn: AsyncConnection) -> datetime | None:
    result = await conn.execute(_NEXT_DUE)
    value = result.scalar()
    if value is None:
        return None
    # min() bypasses the column's type decorator on some drivers.
    return jobs.c.run_at.type.process_result_value(value, conn.dialect)  # type: ignore[no-any-return,attr-defined]


async def release_job(
    conn: AsyncConnection, job_id: int, *, run_at: datetime, error: str | None
) -> None:
    """Give a job back for a later attempt (transient failure)."""
    await conn.execute(_RELEASE, {"b_job_id": job_id, "b_run_at": run_at, "b_error": error})


async def conversation_timers(conn: AsyncConnection, conversation_id: str) -> list[sa.RowMapping]:
    """The pending timer jobs of a conversation's executions, soonest first, each with
    when its execution last changed (`execution_updated_at`, when the timer was set)."""
    result = await conn.execute(_CONVERSATION_TIMERS, {"conversation_id": conversation_id})
    return list(result.mappings().all())


async def claim_jobs(
    conn: AsyncConnection,
    job_ids: list[int],
    *,
    worker_id: str,
    now: datetime,
    lease_seconds: float,
) -> list[sa.RowMapping]:
    """Lease the given jobs whatever their run_at (those another worker holds are left to
    it); the rows are shaped as `claim_due_jobs` returns them."""
    if not job_ids:
        return []
    params: dict[str, Any] = {
        "b_now": now,
        "b_limit": len(job_ids),
        "b_ids": list(job_ids),
        "b_worker_id": worker_id,
        "b_locked_until": now + timedelta(seconds=lease_seconds),
    }
    result = await conn.execute(_CLAIM_CHOSEN, params)
    return list(result.mappings().all())
