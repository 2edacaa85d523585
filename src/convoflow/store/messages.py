"""SQL for conversations and their messages (inbound and outbound)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import conversations, messages


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


async def get_conversation(conn: AsyncConnection, conversation_id: str) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(conversations).where(conversations.c.id == conversation_id)
    )
    return result.mappings().first()


async def get_conversations(
    conn: AsyncConnection, conversation_ids: list[str]
) -> dict[str, sa.RowMapping]:
    if not conversation_ids:
        return {}
    result = await conn.execute(
        sa.select(conversations).where(conversations.c.id.in_(conversation_ids))
    )
    return {row["id"]: row for row in result.mappings()}


async def insert_conversation(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sa.insert(conversations), row)


async def lock_conversation(conn: AsyncConnection, conversation_id: str) -> sa.RowMapping | None:
    """Serialise routing per conversation (row lock on PostgreSQL; SQLite has one writer)."""
    stmt = sa.select(conversations).where(conversations.c.id == conversation_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).mappings().first()


async def insert_message(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Insert a message; False when its provider id was already stored (a redelivery)."""
    stmt = _insert(conn, messages).values(row)
    if row.get("provider_message_id"):
        stmt = stmt.on_conflict_do_nothing(index_elements=["provider_message_id"])
    result = await conn.execute(stmt)
    return bool(result.rowcount == 1)


async def pending_inbound(conn: AsyncConnection, conversation_id: str) -> list[sa.RowMapping]:
    result = await conn.execute(
        sa.select(messages)
        .where(messages.c.conversation_id == conversation_id)
        .where(messages.c.routing == "pending")
        .order_by(messages.c.created_at, messages.c.id)
    )
    return list(result.mappings().all())


async def set_routing(
    conn: AsyncConnection,
    message_ids: list[str],
    routing: str,
    *,
    execution_id: str | None,
    now: datetime,
) -> None:
    if message_ids:
        await conn.execute(
            sa.update(messages)
            .where(messages.c.id.in_(message_ids))
            .values(routing=routing, execution_id=execution_id, updated_at=now)
        )


async def touch_conversation(
    conn: AsyncConnection,
    conversation_id: str,
    *,
    now: datetime,
    direction: str,
    message_id: str,
    count: int = 1,
) -> None:
    values: dict[str, Any] = {
        "last_active_at": now,
        "updated_at": now,
        "last_message_id": message_id,
        "messages_count": conversations.c.messages_count + count,
    }
    values["last_inbound_at" if direction == "inbound" else "last_outbound_at"] = now
    await conn.execute(
        sa.update(conversations).where(conversations.c.id == conversation_id).values(values)
    )
