"""The console's test chat (our extension, `/platform/v1/sandbox/...`): read a sandbox
conversation's messages and say something in it as its simulated user. The conversation
is one an API start with `context.channel = "sandbox"` opened; what the user says is routed
like any inbound message (a button's title or id answers the last interactive message as
a WhatsApp button reply would)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping

from convoflow.services.common import Actor, Invalid, read_in_project
from convoflow.services.conversations import sandbox
from convoflow.services.process import Process
from convoflow.store import messages as message_store
from convoflow.store import whatsapp_queries as inbox_queries

# A test chat is short; the console shows at most this many of its latest messages.
TRANSCRIPT_LIMIT = 500


async def sandbox_conversation(engine: Process, actor: Actor, conversation_id: str) -> Any:
    """The caller's sandbox conversation, or NotFound / Invalid saying why not."""
    # Another project's conversation answers exactly like a missing one.
    row = await read_in_project(
        engine.db, inbox_queries.get_conversation, "sandbox conversation", conversation_id, actor
    )
    if row["channel"] != "sandbox":
        raise Invalid(
            f"conversation {conversation_id} is on the {row['channel']} channel, not the "
            "sandbox: only a test chat's conversation can be used here"
        )
    return row


async def transcript(engine: Process, actor: Actor, conversation_id: str) -> list[RowMapping]:
    """The conversation's messages, oldest first (rows; the API renders them)."""
    await sandbox_conversation(engine, actor, conversation_id)
    async with engine.db.read() as conn:
        rows = await message_store.recent_messages(conn, conversation_id, TRANSCRIPT_LIMIT)
    return list(rows)


async def say(engine: Process, actor: Actor, conversation_id: str, text: str) -> str | None:
    """The simulated user sends `text`; the id of the stored message. Routed in the
    transaction that stores it (the test chat's reply comes sooner; two messages sent
    at once are two inputs, as on WhatsApp with no debounce window)."""
    await sandbox_conversation(engine, actor, conversation_id)
    async with engine.db.read() as conn:
        rows = await message_store.recent_messages(conn, conversation_id, TRANSCRIPT_LIMIT)
    outbound = [dict(row["content"]) for row in rows if row["direction"] == "outbound"]
    last_bot = outbound[-1] if outbound else None
    return await sandbox.say(
        engine, conversation_id, text, last_bot_message=last_bot, route_now=True
    )
