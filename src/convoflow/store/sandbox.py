"""SQL for sandbox conversations (terminal chat, tests): what the bot said, and which
execution the user is talking to."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import executions, messages

_OUTBOUND = (
    sa.select(messages.c.content)
    .where(messages.c.conversation_id == sa.bindparam("conversation_id"))
    .where(messages.c.direction == "outbound")
    .order_by(messages.c.created_at, messages.c.id)
    .offset(sa.bindparam("seen", type_=sa.Integer))
)
_LATEST_ROOT = (
    sa.select(executions)
    .where(executions.c.conversation_id == sa.bindparam("conversation_id"))
    .where(executions.c.parent_execution_id.is_(None))
    .order_by(executions.c.created_at.desc())
    .limit(1)
)


async def outbound_since(conn: AsyncConnection, conversation_id: str, seen: int) -> list[Any]:
    """The content of the conversation's bot messages after the first `seen`, oldest first."""
    result = await conn.execute(_OUTBOUND, {"conversation_id": conversation_id, "seen": seen})
    return [row.content for row in result]


async def latest_root(conn: AsyncConnection, conversation_id: str) -> sa.RowMapping | None:
    """The conversation's newest root execution, in any status."""
    result = await conn.execute(_LATEST_ROOT, {"conversation_id": conversation_id})
    row: sa.RowMapping | None = result.mappings().first()
    return row
