"""SQL for executions and their event timelines."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store import appends, dialects
from convoflow.store.schema import execution_events, executions, jobs


class ConcurrentUpdate(Exception):
    """The execution row changed since it was read (compare-and-set lost)."""


# Statements are built once: constructing a SQLAlchemy statement per call (and its
# cache key) costs more than running it on SQLite. These run on every advance.
_BY_ID = executions.c.id == sa.bindparam("execution_id")
_SELECT = sa.select(executions).where(_BY_ID)
_SELECT_FOR_UPDATE = _SELECT.with_for_update()
_SELECT_FOR_UPDATE_NOWAIT = _SELECT.with_for_update(nowait=True)
_INSERT = sa.insert(executions)
_UPDATE_CAS = (
    sa.update(executions)
    .where(executions.c.id == sa.bindparam("b_id"))
    .where(executions.c.version == sa.bindparam("b_expected_version"))
    .values({c.name: sa.bindparam(c.name) for c in executions.c if c.name != "id"})
)
# The same update with the execution's timer jobs deleted in its WITH clause (leaving a
# wait that had a timeout): one round trip instead of two where the database allows it.
_CLEARED_TIMERS = (
    sa.delete(jobs)
    .where(jobs.c.execution_id == sa.bindparam("b_id"))
    .where(jobs.c.kind == "timer")
    .cte("cleared_timers")
)
_UPDATE_CAS_CLEARING_TIMERS = _UPDATE_CAS.add_cte(_CLEARED_TIMERS)
_DELETE_TIMERS = (
    sa.delete(jobs)
    .where(jobs.c.execution_id == sa.bindparam("execution_id"))
    .where(jobs.c.kind == "timer")
)
_INSERT_EVENTS = sa.insert(execution_events)
_RECENT_EVENTS = (
    sa.select(execution_events.c.event_type, execution_events.c.payload)
    .where(execution_events.c.execution_id == sa.bindparam("execution_id"))
    .order_by(execution_events.c.seq.desc())
    .limit(sa.bindparam("limit", type_=sa.Integer))
)

# Executions that hold a conversation: running, waiting or handed off, neither a child
# (it answers through its parent) nor an observer.
ACTIVE_STATUSES = ("running", "waiting", "handoff")
ACTIVE_ROOTS = (
    executions.c.parent_execution_id.is_(None),
    executions.c.observer.is_(False),
    executions.c.status.in_(ACTIVE_STATUSES),
)
# The conversation's newest active root execution, its whole row, locked on PostgreSQL
# (the lock get_execution takes): one statement instead of an id lookup and a load. If a
# concurrent transaction ends the execution meanwhile, PostgreSQL re-checks the row after
# the lock and returns none, as a load would have returned it ended.
_ACTIVE_ROOT = (
    sa.select(executions)
    .where(executions.c.conversation_id == sa.bindparam("conversation_id"), *ACTIVE_ROOTS)
    .order_by(executions.c.created_at.desc())
    .limit(1)
)
_ACTIVE_ROOT_FOR_UPDATE = _ACTIVE_ROOT.with_for_update()


async def active_root(
    conn: AsyncConnection, conversation_id: str, *, for_update: bool
) -> sa.RowMapping | None:
    stmt = _ACTIVE_ROOT_FOR_UPDATE if for_update else _ACTIVE_ROOT
    result = await conn.execute(stmt, {"conversation_id": conversation_id})
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def get_execution(
    conn: AsyncConnection, execution_id: str, *, for_update: bool = False, nowait: bool = False
) -> sa.RowMapping | None:
    """`nowait` (PostgreSQL): fail with lock_not_available instead of queueing behind
    another transaction that holds the row (the API answers 409 then)."""
    stmt = _SELECT
    if for_update:
        stmt = _SELECT_FOR_UPDATE_NOWAIT if nowait else _SELECT_FOR_UPDATE
    result = await conn.execute(stmt, {"execution_id": execution_id})
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def insert_execution(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(_INSERT, row)


async def update_execution_cas(
    conn: AsyncConnection,
    row: dict[str, Any],
    expected_version: int,
    *,
    clear_timers: bool = False,
) -> None:
    """Write the whole row back if nobody advanced it meanwhile; else ConcurrentUpdate
    (which must roll the transaction back: the timers may be gone already).
    `clear_timers`: also delete the execution's timer jobs."""
    params = dict(row, b_id=row["id"], b_expected_version=expected_version)
    del params["id"]
    stmt = _UPDATE_CAS
    if clear_timers:
        if dialects.of(conn).writes_in_cte:
            stmt = _UPDATE_CAS_CLEARING_TIMERS
        else:
            await conn.execute(_DELETE_TIMERS, {"execution_id": row["id"]})
    result = await conn.execute(stmt, params)
    if result.rowcount != 1:
        raise ConcurrentUpdate(f"execution {row['id']} was advanced concurrently")


async def insert_events(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert event rows, or hold them until the transaction commits (store/appends.py):
    nothing in a write transaction reads events back except `recent_events`, which
    inserts the held ones first."""
    await appends.write(conn, _INSERT_EVENTS, rows, hold=dialects.of(conn).defers_appends)


_NEXT_EVENT_SEQ = (
    sa.update(executions)
    .where(_BY_ID)
    .values(event_seq=executions.c.event_seq + 1, last_event_at=sa.bindparam("b_now"))
    .returning(executions.c.event_seq)
)


async def append_event(
    conn: AsyncConnection,
    execution_id: str,
    event_type: str,
    payload: dict[str, Any],
    *,
    event_id: str,
    now: Any,
    direction: str | None = None,
) -> bool:
    """Add one event without advancing the execution: its `version` stays, so its live
    timers and awaited action results stay valid. False if the execution is gone."""
    result = await conn.execute(_NEXT_EVENT_SEQ, {"execution_id": execution_id, "b_now": now})
    seq = result.scalar()
    if seq is None:
        return False
    row = {
        "id": event_id,
        "execution_id": execution_id,
        "seq": seq,
        "event_type": event_type,
        "node_id": None,
        "direction": direction,
        "edge_label": None,
        "payload": payload,
        "created_at": now,
    }
    await conn.execute(_INSERT_EVENTS, [row])
    return True


async def recent_events(
    conn: AsyncConnection, execution_id: str, limit: int
) -> list[sa.Row[Any, Any]]:
    """The execution's `limit` latest stored events (event_type, payload), oldest first."""
    await appends.flush(conn)  # events this transaction holds back are stored events too
    result = await conn.execute(_RECENT_EVENTS, {"execution_id": execution_id, "limit": limit})
    return list(result)[::-1]


async def find_child_waiting(conn: AsyncConnection, parent_id: str) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(executions.c.id, executions.c.status)
        .where(executions.c.parent_execution_id == parent_id)
        .where(executions.c.status.in_(ACTIVE_STATUSES))
        .order_by(executions.c.created_at.desc())
        .limit(1)
    )
    return result.mappings().first()
