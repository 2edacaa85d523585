"""SQL for workflows and their immutable definition versions."""

from __future__ import annotations

import zlib
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store import dialects
from convoflow.store.schema import workflow_execution_counts, workflow_versions, workflows

# Starts of one workflow add to one of at most this many counter rows (one no other
# start holds, else one chosen by execution id), so concurrent starts on PostgreSQL
# seldom wait for each other's commit; a read sums these rows through the primary key.
EXECUTION_COUNT_SHARDS = 32

_counts = workflow_execution_counts
# A workflow row as every read returns it: the table's columns plus the two figures
# summed from its counter rows (correlated: one primary-key range per workflow).
WORKFLOW_COLUMNS = (
    *workflows.c,
    sa.cast(
        sa.select(sa.func.coalesce(sa.func.sum(_counts.c.count), 0))
        .where(_counts.c.workflow_id == workflows.c.id)
        .scalar_subquery(),
        sa.BigInteger,
    ).label("execution_count"),
    sa.select(sa.func.max(_counts.c.last_executed_at))
    .where(_counts.c.workflow_id == workflows.c.id)
    .scalar_subquery()
    .label("last_executed_at"),
)

# Built once: these run on every start (statement construction costs more than the query).
_GET = sa.select(*WORKFLOW_COLUMNS).where(workflows.c.id == sa.bindparam("workflow_id"))
# Reads on behalf of a project never see a deleted workflow (reads by id alone, the
# engine's, still do: an ended execution names its workflow).
_GET_IN_PROJECT = _GET.where(workflows.c.project_id == sa.bindparam("project_id")).where(
    workflows.c.deleted_at.is_(None)
)
_GET_IN_PROJECT_FOR_UPDATE = _GET_IN_PROJECT.with_for_update()


async def get_workflow(
    conn: AsyncConnection, workflow_id: str, project_id: str | None = None
) -> sa.RowMapping | None:
    if project_id is None:
        result = await conn.execute(_GET, {"workflow_id": workflow_id})
    else:
        result = await conn.execute(
            _GET_IN_PROJECT, {"workflow_id": workflow_id, "project_id": project_id}
        )
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def lock_workflow(
    conn: AsyncConnection, workflow_id: str, project_id: str
) -> sa.RowMapping | None:
    """The workflow, row-locked until the transaction ends where the database has row
    locks (SQLite's single writer implies it): concurrent PATCHes queue instead of
    conflicting."""
    stmt = _GET_IN_PROJECT_FOR_UPDATE if dialects.of(conn).row_locks else _GET_IN_PROJECT
    result = await conn.execute(stmt, {"workflow_id": workflow_id, "project_id": project_id})
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def get_version_definition(conn: AsyncConnection, version_id: str) -> Any:
    result = await conn.execute(
        sa.select(workflow_versions.c.definition).where(workflow_versions.c.id == version_id)
    )
    return result.scalar()


async def get_version_definitions(
    conn: AsyncConnection, version_ids: Collection[str]
) -> dict[str, Any]:
    """Definitions by version id (one round trip for a page of workflows)."""
    if not version_ids:
        return {}
    result = await conn.execute(
        sa.select(workflow_versions.c.id, workflow_versions.c.definition).where(
            workflow_versions.c.id.in_(list(version_ids))
        )
    )
    return {str(row.id): row.definition for row in result}


async def insert_workflow(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sa.insert(workflows), row)


async def insert_version(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sa.insert(workflow_versions), row)


async def latest_version_number(conn: AsyncConnection, workflow_id: str) -> int:
    result = await conn.execute(
        sa.select(sa.func.max(workflow_versions.c.number)).where(
            workflow_versions.c.workflow_id == workflow_id
        )
    )
    return int(result.scalar() or 0)


async def update_workflow(conn: AsyncConnection, workflow_id: str, values: dict[str, Any]) -> None:
    await conn.execute(sa.update(workflows).where(workflows.c.id == workflow_id).values(values))


def _count_shard(execution_id: str) -> int:
    return zlib.crc32(execution_id.encode()) % EXECUTION_COUNT_SHARDS


def _count_statement(dialect: dialects.Dialect) -> sa.Insert:
    table = _counts
    now = sa.bindparam("now", type_=table.c.last_executed_at.type)
    return dialect.insert_updating(
        table,
        ["workflow_id", "shard"],
        {
            "count": table.c.count + 1,
            # The later of the two: commits on one shard may land out of order.
            "last_executed_at": sa.case(
                (table.c.last_executed_at > now, table.c.last_executed_at), else_=now
            ),
        },
    ).values(
        workflow_id=sa.bindparam("workflow_id"),
        shard=sa.bindparam("shard"),
        count=1,
        last_executed_at=now,
    )


_COUNT = dialects.per_dialect(_count_statement)
_now = sa.bindparam("now", type_=_counts.c.last_executed_at.type)
# Any counter row of the workflow no other transaction holds (PostgreSQL: SKIP LOCKED;
# SQLite ignores FOR UPDATE and has one writer anyway).
_ADD_TO_A_FREE_ROW = (
    sa.update(_counts)
    .where(_counts.c.workflow_id == sa.bindparam("counted_workflow_id"))
    .where(
        _counts.c.shard
        == sa.select(_counts.c.shard)
        .where(_counts.c.workflow_id == sa.bindparam("counted_workflow_id"))
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    .values(
        count=_counts.c.count + 1,
        last_executed_at=sa.case(
            (_counts.c.last_executed_at > _now, _counts.c.last_executed_at), else_=_now
        ),
    )
)


async def count_execution(
    conn: AsyncConnection, workflow_id: str, execution_id: str, now: Any
) -> None:
    """Count a start in the start's own transaction (rolled back with it, so the count
    is exact), never on the workflows row: on a counter row no other start holds, else
    (none yet, or all held) on the row the execution id picks, created if missing."""
    params = {"counted_workflow_id": workflow_id, "now": now}
    if (await conn.execute(_ADD_TO_A_FREE_ROW, params)).rowcount:
        return
    params = {"workflow_id": workflow_id, "shard": _count_shard(execution_id), "now": now}
    await conn.execute(_COUNT[conn.dialect.name], params)


async def list_versions(conn: AsyncConnection, workflow_id: str, limit: int) -> list[sa.RowMapping]:
    """The workflow's versions, newest first, with their definitions (the history view
    summarises each; definitions are small next to the page size)."""
    result = await conn.execute(
        sa.select(workflow_versions)
        .where(workflow_versions.c.workflow_id == workflow_id)
        .order_by(workflow_versions.c.number.desc())
        .limit(limit)
    )
    return list(result.mappings().all())


async def get_version(
    conn: AsyncConnection, workflow_id: str, version_id: str
) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(workflow_versions).where(
            workflow_versions.c.workflow_id == workflow_id,
            workflow_versions.c.id == version_id,
        )
    )
    row: sa.RowMapping | None = result.mappings().first()
    return row
