"""SQL for conversations and their messages (inbound and outbound)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store import dialects
from convoflow.store.schema import conversations, messages

# Built once (per dialect where needed): these run for every inbound and outbound message.
_CONVERSATION = sa.select(conversations).where(
    conversations.c.id == sa.bindparam("conversation_id")
)
_CONVERSATION_FOR_UPDATE = _CONVERSATION.with_for_update()
_RECENT_MESSAGES = (
    sa.select(messages)
    .where(messages.c.conversation_id == sa.bindparam("conversation_id"))
    .order_by(messages.c.created_at.desc(), messages.c.id.desc())
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
_CONVERSATIONS = sa.select(conversations).where(
    conversations.c.id.in_(sa.bindparam("conversation_ids", expanding=True))
)
_INSERT_MESSAGE = dialects.per_dialect(
    lambda d: d.insert_ignoring(messages, ["project_id", "provider_message_id"])
)
_PENDING = (
    sa.select(messages)
    .where(messages.c.conversation_id == sa.bindparam("conversation_id"))
    .where(messages.c.routing == "pending")
    .order_by(messages.c.created_at, messages.c.id)
)
_CLAIM_PENDING = (
    sa.update(messages)
    .where(messages.c.conversation_id == sa.bindparam("b_conversation_id"))
    .where(messages.c.routing == "pending")
    .values(
        routing=sa.bindparam("routing"),
        execution_id=sa.bindparam("execution_id"),
        updated_at=sa.bindparam("now"),
    )
    .returning(*messages.c)
)
_SET_ROUTING = (
    sa.update(messages)
    .where(messages.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(
        routing=sa.bindparam("routing"),
        execution_id=sa.bindparam("execution_id"),
        updated_at=sa.bindparam("now"),
    )
)


def _touch(direction_column: str) -> sa.Update:
    return (
        sa.update(conversations)
        .where(conversations.c.id == sa.bindparam("conversation_id"))
        .values(
            {
                "last_active_at": sa.bindparam("now"),
                "updated_at": sa.bindparam("now"),
                "last_message_id": sa.bindparam("message_id"),
                "messages_count": conversations.c.messages_count + sa.bindparam("count"),
                direction_column: sa.bindparam("now"),
            }
        )
    )


_TOUCH = {"inbound": _touch("last_inbound_at"), "outbound": _touch("last_outbound_at")}


async def get_conversation(conn: AsyncConnection, conversation_id: str) -> sa.RowMapping | None:
    result = await conn.execute(_CONVERSATION, {"conversation_id": conversation_id})
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def recent_messages(
    conn: AsyncConnection, conversation_id: str, limit: int
) -> list[sa.RowMapping]:
    """The conversation's `limit` latest messages, oldest first."""
    params = {"conversation_id": conversation_id, "limit": limit}
    result = await conn.execute(_RECENT_MESSAGES, params)
    return list(result.mappings())[::-1]


async def get_conversations(
    conn: AsyncConnection, conversation_ids: list[str]
) -> dict[str, sa.RowMapping]:
    if not conversation_ids:
        return {}
    result = await conn.execute(_CONVERSATIONS, {"conversation_ids": conversation_ids})
    return {row["id"]: row for row in result.mappings()}


_INSERT_CONVERSATION = sa.insert(conversations)  # built once: every new conversation


async def insert_conversation(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(_INSERT_CONVERSATION, row)


async def lock_conversation(conn: AsyncConnection, conversation_id: str) -> sa.RowMapping | None:
    """Serialise routing per conversation (row lock on PostgreSQL; SQLite has one writer)."""
    stmt = _CONVERSATION_FOR_UPDATE if dialects.of(conn).row_locks else _CONVERSATION
    result = await conn.execute(stmt, {"conversation_id": conversation_id})
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def insert_message(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Insert a message; False when its project already stored its provider id (a
    redelivery)."""
    result = await conn.execute(_INSERT_MESSAGE[conn.dialect.name], row)
    return bool(result.rowcount == 1)


async def insert_messages(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert several messages in one call (same keys in every row); a provider id its
    project stored before is skipped, as in `insert_message`."""
    if rows:
        await conn.execute(_INSERT_MESSAGE[conn.dialect.name], rows)


async def pending_inbound(conn: AsyncConnection, conversation_id: str) -> list[sa.RowMapping]:
    result = await conn.execute(_PENDING, {"conversation_id": conversation_id})
    return list(result.mappings().all())


async def claim_pending(
    conn: AsyncConnection,
    conversation_id: str,
    routing: str,
    *,
    execution_id: str | None,
    now: datetime,
) -> list[sa.RowMapping]:
    """Take the conversation's pending inbound messages, oldest first, marking them
    `routing`. The UPDATE is the claim: of two transactions racing for the same messages
    (a routing job, a wait picking up early input), the second waits for the first and
    then finds them no longer pending, so a message is never consumed twice."""
    result = await conn.execute(
        _CLAIM_PENDING,
        {
            "b_conversation_id": conversation_id,
            "routing": routing,
            "execution_id": execution_id,
            "now": now,
        },
    )
    rows = list(result.mappings().all())
    rows.sort(key=lambda row: (row["created_at"], row["id"]))
    return rows


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
            _SET_ROUTING,
            {"ids": message_ids, "routing": routing, "execution_id": execution_id, "now": now},
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
    await conn.execute(
        _TOUCH["inbound" if direction == "inbound" else "outbound"],
        {"conversation_id": conversation_id, "now": now, "message_id": message_id, "count": count},
    )


async def touch_conversations(
    conn: AsyncConnection, touches: list[tuple[str, str]], *, now: datetime, direction: str
) -> None:
    """`touch_conversation` (count 1) for several (conversation id, message id) at once."""
    if touches:
        await conn.execute(
            _TOUCH["inbound" if direction == "inbound" else "outbound"],
            [
                {
                    "conversation_id": conversation_id,
                    "now": now,
                    "message_id": message_id,
                    "count": 1,
                }
                for conversation_id, message_id in touches
            ],
        )
