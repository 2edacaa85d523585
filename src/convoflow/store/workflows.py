"""SQL for workflows and their immutable definition versions."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store import dialects
from convoflow.store.schema import workflow_versions, workflows

# Built once: these run on every start (statement construction costs more than the query).
_GET = sa.select(workflows).where(workflows.c.id == sa.bindparam("workflow_id"))
# Reads on behalf of a project never see a deleted workflow (reads by id alone, the
# engine's, still do: an ended execution names its workflow).
_GET_IN_PROJECT = _GET.where(workflows.c.project_id == sa.bindparam("project_id")).where(
    workflows.c.deleted_at.is_(None)
)
_GET_IN_PROJECT_FOR_UPDATE = _GET_IN_PROJECT.with_for_update()
_BUMP_COUNT = (
    sa.update(workflows)
    .where(workflows.c.id == sa.bindparam("workflow_id"))
    .values(
        execution_count=workflows.c.execution_count + 1,
        last_executed_at=sa.bindparam("now"),
    )
)


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


async def bump_execution_count(conn: AsyncConnection, workflow_id: str, now: Any) -> None:
    await conn.execute(_BUMP_COUNT, {"workflow_id": workflow_id, "now": now})


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
