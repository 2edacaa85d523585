"""SQL for project events (`emit_event` writes them; `project_event` triggers read them)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import project_events

_INSERT = sa.insert(project_events)
_GET = sa.select(project_events).where(project_events.c.id == sa.bindparam("event_id"))


async def insert_project_event(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(_INSERT, row)


async def get_project_event(conn: AsyncConnection, event_id: str) -> sa.RowMapping | None:
    result = await conn.execute(_GET, {"event_id": event_id})
    row: sa.RowMapping | None = result.mappings().first()
    return row
