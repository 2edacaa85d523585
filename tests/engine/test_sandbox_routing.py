"""The console's test chat routes what the user says in the request that stores it
(`sandbox.say(route_now=True)`). Only the routing errors a transaction can meet by design
(the database refusing it, an execution advanced concurrently) fall back to storing the
message with a routing job; anything else is a bug and propagates (the API's 500, logged
with its traceback) instead of becoming a warning and a second transaction. Both DBs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from convoflow.engine.graphs import compile_entry
from convoflow.services.conversations import sandbox
from convoflow.store.schema import jobs, messages
from tests.support import Chat, chain, node


async def _count(chat: Chat, table: sa.Table, **where: str) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    async with chat.engine.db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_an_unexpected_routing_error_is_not_swallowed(engine):
    flow = chain(
        node("start", "start"),
        node("wait", "wait_for_response"),
        node("reply", "send_text", message="got {{vars.last_user_input}}"),
    )
    chat = await Chat.open(engine, flow)
    await engine.worker.drain()
    version_id = (await chat.execution())["version_id"]
    graphs = engine.runtime.graphs
    async with engine.db.read() as conn:
        graph = await graphs.get(conn, version_id)
    # The waiting execution's graph turns unreadable: delivering to it raises a bug.
    graphs.put(version_id, compile_entry({"nodes": [], "edges": []}))
    with pytest.raises(Exception) as raised:
        await sandbox.say(engine, chat.conversation_id, "hello", route_now=True)
    assert not isinstance(raised.value, (sa.exc.SQLAlchemyError,))
    # Nothing half-done: the message was not stored, no routing job was queued.
    assert await _count(chat, messages, direction="inbound") == 0
    assert await _count(chat, jobs, kind="route_conversation") == 0

    graphs.put(version_id, graph)
    await sandbox.say(engine, chat.conversation_id, "again", route_now=True)
    await engine.worker.drain()
    assert await chat.texts() == ["got again"]
