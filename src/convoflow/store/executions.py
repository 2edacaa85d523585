"""SQL for executions and their event timelines."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import execution_events, executions


class ConcurrentUpdate(Exception):
    """The execution row changed since it was read (compare-and-set lost)."""


def _select_execution(execution_id: str, *, for_update: bool) -> sa.Select[Any]:
    stmt = sa.select(executions).where(executions.c.id == execution_id)
    if for_update:
        stmt = stmt.with_for_update()
    return stmt


async def get_execution(
    conn: AsyncConnection, execution_id: str, *, for_update: bool = False
) -> sa.RowMapping | None:
    result = await conn.execute(_select_execution(execution_id, for_update=for_update))
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def insert_execution(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sa.insert(executions), row)


_UPDATE_CAS = (
    sa.update(executions)
    .where(executions.c.id == sa.bindparam("b_id"))
    .where(executions.c.version == sa.bindparam("b_expected_version"))
)


async def update_execution_cas(
    conn: AsyncConnection, row: dict[str, Any], expected_version: int
) -> None:
    """Write the whole row back if nobody advanced it meanwhile; else ConcurrentUpdate."""
    values = {k: v for k, v in row.items() if k != "id"}
    params = dict(values, b_id=row["id"], b_expected_version=expected_version)
    stmt = _UPDATE_CAS.values({k: sa.bindparam(k) for k in values})
    result = await conn.execute(stmt, params)
    if result.rowcount != 1:
        raise ConcurrentUpdate(f"execution {row['id']} was advanced concurrently")


async def insert_events(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(sa.insert(execution_events), rows)


async def find_child_waiting(conn: AsyncConnection, parent_id: str) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(executions.c.id, executions.c.status)
        .where(executions.c.parent_execution_id == parent_id)
        .where(executions.c.status.in_(("running", "waiting", "handoff")))
        .order_by(executions.c.created_at.desc())
        .limit(1)
    )
    return result.mappings().first()
