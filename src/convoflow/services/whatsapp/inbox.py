"""Conversations and messages through the API (cursor paging): each read returns the rows
the API renders (api/whatsapp_views.py) — a conversation with its last message, a message
with its conversation (and, read alone, its receipts).

Lists are keyset-paged on (created_at, id), newest first (DECISIONS.md). Ending a
conversation publishes `whatsapp.conversation.ended` in the same transaction; the next
message from that user opens a new conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import RowMapping

from convoflow.engine.advance import Advance
from convoflow.services.common import Actor, Conflict, in_project
from convoflow.services.executions.reads import PageRequest
from convoflow.services.whatsapp import payloads
from convoflow.services.whatsapp.events import EventSink
from convoflow.services.whatsapp.phone_numbers import whatsapp
from convoflow.store import messages as message_store
from convoflow.store import receipts as receipt_store
from convoflow.store import whatsapp as wa_store
from convoflow.store import whatsapp_queries as queries
from convoflow.store.listing import KeysetPage

if TYPE_CHECKING:
    from convoflow.services.process import Process

ConversationFilters = queries.ConversationFilters
MessageFilters = queries.MessageFilters


@dataclass(frozen=True)
class ConversationItem:
    row: RowMapping
    last: RowMapping | None  # its last message, if it has one


@dataclass(frozen=True)
class MessageItem:
    row: RowMapping
    conversation: RowMapping | None
    statuses: Sequence[RowMapping] | None = None  # receipts, when read alone


async def list_conversations(
    engine: Process, actor: Actor, filters: ConversationFilters, page: PageRequest
) -> tuple[KeysetPage, list[ConversationItem]]:
    async with engine.db.read() as conn:
        result = await queries.inbox_page(
            conn, actor.project_id, filters, limit=page.limit, after=page.after, before=page.before
        )
        last = await queries.messages_by_id(
            conn, [row["last_message_id"] for row in result.rows if row["last_message_id"]]
        )
    items = [ConversationItem(row, last.get(row["last_message_id"])) for row in result.rows]
    return result, items


async def get_conversation(engine: Process, actor: Actor, conversation_id: str) -> ConversationItem:
    async with engine.db.read() as conn:
        row = await in_project(
            conn, queries.get_conversation, "conversation", conversation_id, actor
        )
        last = await queries.messages_by_id(
            conn, [row["last_message_id"]] if row["last_message_id"] else []
        )
    return ConversationItem(row, last.get(row["last_message_id"]))


async def set_conversation_status(
    engine: Process, actor: Actor, conversation_id: str, status: str
) -> ConversationItem:
    webhooks = {actor.project_id: await whatsapp(engine).directory.webhooks(actor.project_id)}

    async def change(adv: Advance) -> None:
        row = await in_project(
            adv.conn, queries.get_conversation, "conversation", conversation_id, actor
        )
        if row["status"] == status:
            return
        if status == "active" and row["phone_number_id"] and row["wa_id"]:
            other = await wa_store.find_active_conversation(
                adv.conn, row["phone_number_id"], row["wa_id"]
            )
            if other is not None and other["id"] != row["id"]:
                raise Conflict(
                    f"conversation {other['id']} with the same user and number is active; "
                    "end it before reopening this one"
                )
        await queries.set_conversation_status(adv.conn, conversation_id, status, adv.now)
        if status == "ended":
            await _publish_ended(adv, EventSink(adv, webhooks), row)

    await engine.runtime.op(change)
    return await get_conversation(engine, actor, conversation_id)


async def _publish_ended(adv: Advance, events: EventSink, row: RowMapping) -> None:
    async def data() -> dict[str, Any]:
        current = await message_store.get_conversation(adv.conn, row["id"])
        assert current is not None
        return {
            "phone_number_id": row["phone_number_id"],
            "conversation": payloads.conversation(current),
        }

    await events.publish(
        project_id=row["project_id"],
        name="whatsapp.conversation.ended",
        phone_number_id=row["phone_number_id"],
        conversation_id=row["id"],
        conversation_phone_number=row["wa_id"],
        dedupe=f"{row['id']}:ended:{adv.now.timestamp()}",
        build=data,
    )


async def list_messages(
    engine: Process, actor: Actor, filters: MessageFilters, page: PageRequest
) -> tuple[KeysetPage, list[MessageItem]]:
    async with engine.db.read() as conn:
        result = await queries.inbox_page(
            conn, actor.project_id, filters, limit=page.limit, after=page.after, before=page.before
        )
        owners = await message_store.get_conversations(
            conn, sorted({row["conversation_id"] for row in result.rows})
        )
    items = [MessageItem(row, owners.get(row["conversation_id"])) for row in result.rows]
    return result, items


async def get_message(engine: Process, actor: Actor, message_id: str) -> MessageItem:
    async with engine.db.read() as conn:
        row = await in_project(conn, queries.get_message, "message", message_id, actor)
        owner = await message_store.get_conversation(conn, row["conversation_id"])
        statuses = (
            await receipt_store.statuses_of(conn, actor.project_id, row["provider_message_id"])
            if row["provider_message_id"]
            else []
        )
    return MessageItem(row, owner, statuses)
