"""SQL the conversations and messages API needs (reads, scoped to a project)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.listing import KeysetPage, Position, keyset_page
from convoflow.store.schema import conversations, messages

_GET_CONVERSATION = (
    sa.select(conversations)
    .where(conversations.c.id == sa.bindparam("conversation_id"))
    .where(conversations.c.project_id == sa.bindparam("project_id"))
)
# channels/whatsapp/normalise.MEDIA_TYPES (store/ may not import channels/; a test keeps
# the two equal).
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")


@dataclass(frozen=True)
class ConversationFilters:
    phone_number_id: str | None = None
    phone_number: str | None = None
    status: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    last_active_after: datetime | None = None
    last_active_before: datetime | None = None


@dataclass(frozen=True)
class MessageFilters:
    phone_number_id: str | None = None
    conversation_id: str | None = None
    phone_number: str | None = None
    direction: str | None = None
    status: str | None = None
    message_type: str | None = None
    has_media: bool | None = None


def _conversations_select(project_id: str, f: ConversationFilters) -> sa.Select[Any]:
    c = conversations.c
    stmt = sa.select(conversations).where(c.project_id == project_id)
    if f.phone_number_id is not None:
        stmt = stmt.where(c.phone_number_id == f.phone_number_id)
    if f.phone_number:
        digits = f.phone_number.lstrip("+")
        stmt = stmt.where(
            sa.or_(
                c.wa_id.contains(digits, autoescape=True),
                c.phone_number.contains(digits, autoescape=True),
            )
        )
    if f.status is not None:
        stmt = stmt.where(c.status == f.status)
    for column, low, high in (
        (c.created_at, f.created_after, f.created_before),
        (c.last_active_at, f.last_active_after, f.last_active_before),
    ):
        if low is not None:
            stmt = stmt.where(column >= low)
        if high is not None:
            stmt = stmt.where(column <= high)
    return stmt


def _messages_select(project_id: str, f: MessageFilters) -> sa.Select[Any]:
    m = messages.c
    stmt = sa.select(messages).where(m.project_id == project_id)
    if f.conversation_id is not None:
        stmt = stmt.where(m.conversation_id == f.conversation_id)
    if f.phone_number_id is not None or f.phone_number:
        owner = sa.select(conversations.c.id).where(conversations.c.project_id == project_id)
        if f.phone_number_id is not None:
            owner = owner.where(conversations.c.phone_number_id == f.phone_number_id)
        if f.phone_number:
            owner = owner.where(
                conversations.c.wa_id.contains(f.phone_number.lstrip("+"), autoescape=True)
            )
        stmt = stmt.where(m.conversation_id.in_(owner))
    if f.direction is not None:
        stmt = stmt.where(m.direction == f.direction)
    if f.status is not None:
        # Inbound messages are stored as `received`; the API shows them as delivered.
        wanted = ("delivered", "received") if f.status == "delivered" else (f.status,)
        stmt = stmt.where(m.status.in_(wanted))
    if f.message_type is not None:
        stmt = stmt.where(m.message_type == f.message_type)
    if f.has_media is not None:
        media = m.message_type.in_(MEDIA_TYPES)
        stmt = stmt.where(media if f.has_media else sa.not_(media))
    return stmt


async def inbox_page(
    conn: AsyncConnection,
    project_id: str,
    filters: ConversationFilters | MessageFilters,
    *,
    limit: int,
    after: Position | None = None,
    before: Position | None = None,
) -> KeysetPage:
    """One page of the project's conversations (ConversationFilters) or messages
    (MessageFilters), newest first."""
    if isinstance(filters, ConversationFilters):
        stmt, table = _conversations_select(project_id, filters), conversations
    else:
        stmt, table = _messages_select(project_id, filters), messages
    return await keyset_page(conn, stmt, table, limit=limit, after=after, before=before)


def message_row(values: dict[str, Any]) -> dict[str, Any]:
    """`values` as a whole message row, as a read returns it (None where not given)."""
    return {**{column.name: None for column in messages.c}, **values}


async def get_conversation(
    conn: AsyncConnection, conversation_id: str, project_id: str
) -> sa.RowMapping | None:
    result = await conn.execute(
        _GET_CONVERSATION, {"conversation_id": conversation_id, "project_id": project_id}
    )
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def messages_by_id(conn: AsyncConnection, ids: list[str]) -> dict[str, sa.RowMapping]:
    if not ids:
        return {}
    result = await conn.execute(sa.select(messages).where(messages.c.id.in_(ids)))
    return {row["id"]: row for row in result.mappings()}


async def get_message(
    conn: AsyncConnection, message_id: str, project_id: str
) -> sa.RowMapping | None:
    """By wamid, or by our id for messages that have none (sandbox, failed sends)."""
    result = await conn.execute(
        sa.select(messages)
        .where(messages.c.project_id == project_id)
        .where(sa.or_(messages.c.provider_message_id == message_id, messages.c.id == message_id))
        .limit(1)
    )
    return result.mappings().first()


async def set_conversation_status(
    conn: AsyncConnection, conversation_id: str, status: str, now: datetime
) -> None:
    await conn.execute(
        sa.update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(status=status, updated_at=now)
    )
