"""SQL for workflow triggers."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import triggers, workflows

# Built once: statement construction costs more than the query (has_active runs on
# every start).
_LIST_FOR_WORKFLOW = (
    sa.select(triggers)
    .where(triggers.c.workflow_id == sa.bindparam("workflow_id"))
    .order_by(triggers.c.created_at, triggers.c.id)
)
_GET = (
    sa.select(triggers)
    .where(triggers.c.id == sa.bindparam("trigger_id"))
    .where(triggers.c.project_id == sa.bindparam("project_id"))
)
_HAS_ACTIVE = (
    sa.select(triggers.c.id)
    .where(triggers.c.workflow_id == sa.bindparam("workflow_id"))
    .where(triggers.c.trigger_type == sa.bindparam("trigger_type"))
    .where(triggers.c.active.is_(True))
    .limit(1)
)


async def list_for_workflow(conn: AsyncConnection, workflow_id: str) -> list[sa.RowMapping]:
    result = await conn.execute(_LIST_FOR_WORKFLOW, {"workflow_id": workflow_id})
    return list(result.mappings().all())


async def get_trigger(
    conn: AsyncConnection, trigger_id: str, project_id: str
) -> sa.RowMapping | None:
    result = await conn.execute(_GET, {"trigger_id": trigger_id, "project_id": project_id})
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def insert_triggers(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(sa.insert(triggers), rows)


async def delete_for_workflow(conn: AsyncConnection, workflow_id: str) -> None:
    await conn.execute(sa.delete(triggers).where(triggers.c.workflow_id == workflow_id))


async def delete_trigger(conn: AsyncConnection, trigger_id: str) -> None:
    await conn.execute(sa.delete(triggers).where(triggers.c.id == trigger_id))


async def set_active(conn: AsyncConnection, trigger_id: str, active: bool, now: Any) -> None:
    await conn.execute(
        sa.update(triggers).where(triggers.c.id == trigger_id).values(active=active, updated_at=now)
    )


async def deactivate_all(conn: AsyncConnection, workflow_id: str, now: Any) -> None:
    await conn.execute(
        sa.update(triggers)
        .where(triggers.c.workflow_id == workflow_id)
        .where(triggers.c.active.is_(True))
        .values(active=False, updated_at=now)
    )


async def has_active(conn: AsyncConnection, workflow_id: str, trigger_type: str) -> bool:
    result = await conn.execute(
        _HAS_ACTIVE, {"workflow_id": workflow_id, "trigger_type": trigger_type}
    )
    return result.scalar() is not None


async def active_conflicts(
    conn: AsyncConnection,
    *,
    project_id: str,
    trigger_type: str,
    phone_number_id: str | None,
    event: str | None,
    exclude_workflow_id: str,
) -> list[sa.RowMapping]:
    """Active triggers of the same kind on *other* workflows (one number may start only one
    workflow per inbound message or WhatsApp event)."""
    stmt = (
        sa.select(triggers.c.id, triggers.c.workflow_id, workflows.c.name)
        .join(workflows, workflows.c.id == triggers.c.workflow_id)
        .where(triggers.c.project_id == project_id)
        .where(triggers.c.trigger_type == trigger_type)
        .where(triggers.c.active.is_(True))
        .where(triggers.c.workflow_id != exclude_workflow_id)
        .where(workflows.c.status != "archived")
    )
    if phone_number_id is None:
        stmt = stmt.where(triggers.c.phone_number_id.is_(None))
    else:
        stmt = stmt.where(triggers.c.phone_number_id == phone_number_id)
    if event is not None:
        stmt = stmt.where(triggers.c.event == event)
    return list((await conn.execute(stmt)).mappings().all())


_PROJECT_EVENT_TRIGGERS = (
    sa.select(triggers)
    .join(workflows, workflows.c.id == triggers.c.workflow_id)
    .where(triggers.c.project_id == sa.bindparam("project_id"))
    .where(triggers.c.trigger_type == "project_event")
    .where(triggers.c.active.is_(True))
    .where(triggers.c.event_name == sa.bindparam("event_name"))
    .where(workflows.c.status == "active")
)


async def project_event_triggers(
    conn: AsyncConnection, project_id: str, event_name: str
) -> list[sa.RowMapping]:
    """Active `project_event` triggers for `event_name` on the project's active workflows
    (their property filters are checked by the caller)."""
    result = await conn.execute(
        _PROJECT_EVENT_TRIGGERS, {"project_id": project_id, "event_name": event_name}
    )
    return list(result.mappings().all())
