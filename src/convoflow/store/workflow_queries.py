"""SQL the HTTP API needs for workflows: filtered lists, uniqueness checks, guarded updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.executions import ACTIVE_STATUSES
from convoflow.store.schema import executions, workflow_versions, workflows
from convoflow.store.workflows import WORKFLOW_COLUMNS


async def list_workflows(
    conn: AsyncConnection,
    project_id: str,
    *,
    status: str | None = None,
    name_contains: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> list[sa.RowMapping]:
    stmt = (
        sa.select(*WORKFLOW_COLUMNS)
        .where(workflows.c.project_id == project_id)
        .where(workflows.c.deleted_at.is_(None))
    )
    if status is not None:
        stmt = stmt.where(workflows.c.status == status)
    if name_contains:
        # Case-insensitive on both databases; `%` and `_` in the query match literally.
        stmt = stmt.where(
            sa.func.lower(workflows.c.name).contains(name_contains.lower(), autoescape=True)
        )
    if created_after is not None:
        stmt = stmt.where(workflows.c.created_at >= created_after)
    if created_before is not None:
        stmt = stmt.where(workflows.c.created_at <= created_before)
    stmt = stmt.order_by(workflows.c.created_at.desc(), workflows.c.id.desc())
    return list((await conn.execute(stmt)).mappings().all())


async def find_by_column(
    conn: AsyncConnection, project_id: str, column: str, value: str, *, exclude_id: str | None
) -> str | None:
    """The id of another workflow of the project whose `column` equals `value`."""
    stmt = (
        sa.select(workflows.c.id)
        .where(workflows.c.project_id == project_id)
        .where(workflows.c[column] == value)
    )
    if exclude_id is not None:
        stmt = stmt.where(workflows.c.id != exclude_id)
    value_id = (await conn.execute(stmt.limit(1))).scalar()
    return str(value_id) if value_id is not None else None


async def slugs_like(conn: AsyncConnection, project_id: str, base: str) -> set[str]:
    result = await conn.execute(
        sa.select(workflows.c.slug)
        .where(workflows.c.project_id == project_id)
        .where(workflows.c.slug.startswith(base, autoescape=True))
    )
    return {str(slug) for slug in result.scalars()}


async def update_if_lock_version(
    conn: AsyncConnection, workflow_id: str, expected: int, values: dict[str, Any]
) -> bool:
    """Compare-and-set on `lock_version`: False when someone else updated it first."""
    result = await conn.execute(
        sa.update(workflows)
        .where(workflows.c.id == workflow_id)
        .where(workflows.c.lock_version == expected)
        .values(values)
    )
    return bool(result.rowcount == 1)


_DEFINITION = sa.select(workflow_versions.c.definition).where(
    workflow_versions.c.id == sa.bindparam("version_id")
)


async def current_definition(conn: AsyncConnection, workflow: sa.RowMapping) -> Any:
    version_id = workflow["current_version_id"]
    if version_id is None:
        return None
    result = await conn.execute(_DEFINITION, {"version_id": version_id})
    return result.scalar()


async def active_execution_ids(conn: AsyncConnection, workflow_id: str) -> list[str]:
    result = await conn.execute(
        sa.select(executions.c.id)
        .where(executions.c.workflow_id == workflow_id)
        .where(executions.c.status.in_(ACTIVE_STATUSES))
        .order_by(executions.c.created_at, executions.c.id)
    )
    return [str(value) for value in result.scalars()]


async def recent_contexts(
    conn: AsyncConnection, workflow_id: str, limit: int
) -> list[tuple[dict[str, Any], datetime]]:
    """Execution contexts of the newest executions, for variable discovery."""
    result = await conn.execute(
        sa.select(executions.c.context, executions.c.updated_at)
        .where(executions.c.workflow_id == workflow_id)
        .order_by(executions.c.created_at.desc(), executions.c.id.desc())
        .limit(limit)
    )
    return [(dict(row.context or {}), row.updated_at) for row in result]


_WORKFLOW = sa.select(*WORKFLOW_COLUMNS).where(workflows.c.id == sa.bindparam("workflow_id"))
_WORKFLOWS = sa.select(*WORKFLOW_COLUMNS).where(
    workflows.c.id.in_(sa.bindparam("ids", expanding=True))
)


async def minimal_workflows(
    conn: AsyncConnection, workflow_ids: set[str]
) -> dict[str, sa.RowMapping]:
    if not workflow_ids:
        return {}
    if len(workflow_ids) == 1:  # the usual case: one execution, or a workflow's list
        [workflow_id] = workflow_ids
        result = await conn.execute(_WORKFLOW, {"workflow_id": workflow_id})
    else:
        result = await conn.execute(_WORKFLOWS, {"ids": sorted(workflow_ids)})
    return {str(row["id"]): row for row in result.mappings()}
