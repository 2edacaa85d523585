"""SQL the HTTP API needs for executions, their events and conversations (reads, scoped to
a project so another project's ids look exactly like unknown ones)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import conversations, execution_events, executions

# The events returned inline by GET /workflow_executions/{id}; the full timeline is
# paged by GET /workflow_executions/{id}/events.
MAX_INLINE_EVENTS = 1000


async def get_execution(
    conn: AsyncConnection, execution_id: str, project_id: str
) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(executions)
        .where(executions.c.id == execution_id)
        .where(executions.c.project_id == project_id)
    )
    return result.mappings().first()


async def get_executions(conn: AsyncConnection, execution_ids: list[str]) -> list[sa.RowMapping]:
    if not execution_ids:
        return []
    result = await conn.execute(sa.select(executions).where(executions.c.id.in_(execution_ids)))
    return list(result.mappings().all())


def executions_select(
    *,
    workflow_id: str | None = None,
    conversation_id: str | None = None,
    status: str | None = None,
    waiting_reason: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> sa.Select[Any]:
    """Executions filtered as the list endpoints allow (paged by store.listing)."""
    stmt = sa.select(executions)
    if workflow_id is not None:
        stmt = stmt.where(executions.c.workflow_id == workflow_id)
    if conversation_id is not None:
        stmt = stmt.where(executions.c.conversation_id == conversation_id)
    if status is not None:
        stmt = stmt.where(executions.c.status == status)
    if waiting_reason is not None:
        stmt = stmt.where(executions.c.waiting_reason == waiting_reason)
    if created_after is not None:
        stmt = stmt.where(executions.c.created_at >= created_after)
    if created_before is not None:
        stmt = stmt.where(executions.c.created_at <= created_before)
    return stmt


def events_select(execution_id: str, *, event_type: str | None = None) -> sa.Select[Any]:
    stmt = sa.select(execution_events).where(execution_events.c.execution_id == execution_id)
    if event_type is not None:
        stmt = stmt.where(execution_events.c.event_type == event_type)
    return stmt


async def timeline(conn: AsyncConnection, execution_id: str) -> list[sa.RowMapping]:
    """The execution's latest events, oldest first."""
    result = await conn.execute(
        sa.select(execution_events)
        .where(execution_events.c.execution_id == execution_id)
        .order_by(execution_events.c.seq.desc())
        .limit(MAX_INLINE_EVENTS)
    )
    rows = list(result.mappings().all())
    rows.reverse()
    return rows


async def get_event(conn: AsyncConnection, event_id: str, project_id: str) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(execution_events, executions.c.version_id.label("execution_version_id"))
        .join(executions, executions.c.id == execution_events.c.execution_id)
        .where(execution_events.c.id == event_id)
        .where(executions.c.project_id == project_id)
    )
    return result.mappings().first()


async def get_conversation(
    conn: AsyncConnection, conversation_id: str, project_id: str
) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(conversations)
        .where(conversations.c.id == conversation_id)
        .where(conversations.c.project_id == project_id)
    )
    return result.mappings().first()


async def find_conversation(
    conn: AsyncConnection,
    *,
    project_id: str,
    channel: str,
    phone_number_id: str | None,
    wa_id: str,
) -> sa.RowMapping | None:
    """The newest active conversation of this user on this number and channel."""
    stmt = (
        sa.select(conversations)
        .where(conversations.c.project_id == project_id)
        .where(conversations.c.channel == channel)
        .where(conversations.c.wa_id == wa_id)
        .where(conversations.c.status == "active")
    )
    if phone_number_id is None:
        stmt = stmt.where(conversations.c.phone_number_id.is_(None))
    else:
        stmt = stmt.where(conversations.c.phone_number_id == phone_number_id)
    stmt = stmt.order_by(conversations.c.created_at.desc(), conversations.c.id.desc()).limit(1)
    return (await conn.execute(stmt)).mappings().first()
