"""With no debounce window a message meets its execution inside the webhook's own
transaction, on both databases: when Meta has its 200, the reply is already queued and no
routing job was needed; if routing there fails, the message is still stored (200) and a
routing job takes it later."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from convoflow.engine.graphs import compile_entry
from convoflow.store.schema import jobs, messages, outbox
from tests.whatsapp_e2e.conftest import USER, World
from tests.whatsapp_e2e.helpers import echo_start, executions_of, inbound_flow, rows, sent_texts


async def _outbox_texts(world: World) -> list[str]:
    return sorted(str(row["message"].get("text", "")) for row in await rows(world, outbox))


async def test_a_reply_is_queued_by_the_time_meta_has_its_200(world: World) -> None:
    await inbound_flow(world, echo_start(), message_debounce_seconds=0)
    await world.say("first")  # no worker has run: the start happened in the webhook
    (execution,) = await executions_of(world, USER)
    assert execution["status"] == "waiting"
    assert await _outbox_texts(world) == ["got: first"]
    await world.say("second")  # the resume too
    assert await _outbox_texts(world) == ["got: first", "got: second"]
    assert await rows(world, jobs, kind="route_conversation") == []
    inbound = await rows(world, messages, direction="inbound")
    assert {(m["routing"], m["execution_id"]) for m in inbound} == {("consumed", execution["id"])}
    await world.settle(0)
    assert sent_texts(world, USER) == ["got: first", "got: second"]


async def test_a_debounce_window_still_routes_in_a_job(world: World) -> None:
    await inbound_flow(world, echo_start(), message_debounce_seconds=1)
    await world.say("first")
    assert await executions_of(world, USER) == []
    assert len(await rows(world, jobs, kind="route_conversation")) == 1
    await world.settle()
    assert sent_texts(world, USER) == ["got: first"]


async def test_when_routing_in_the_webhook_fails_the_message_waits_for_a_job(
    world: World,
) -> None:
    await inbound_flow(world, echo_start(), message_debounce_seconds=0)
    await world.say("first")
    (execution,) = await executions_of(world, USER)
    graphs = world.engine.runtime.graphs
    async with world.engine.db.read() as conn:
        graph = await graphs.get(conn, execution["version_id"])
    # The waiting execution's graph turns unreadable: delivering to it raises.
    graphs.put(execution["version_id"], compile_entry({"nodes": [], "edges": []}))
    await world.say("second")  # 200: stored, not routed
    pending = await rows(world, messages, direction="inbound", routing="pending")
    assert [m["content"]["text"] for m in pending] == ["second"]
    assert len(await rows(world, jobs, kind="route_conversation")) == 1
    graphs.put(execution["version_id"], graph)
    await world.settle(0)
    assert sent_texts(world, USER) == ["got: first", "got: second"]


async def test_a_new_conversation_reads_its_inbound_workflow_once(world: World) -> None:
    # The webhook reads the number's inbound workflow for the debounce and read mode;
    # starting the flow in the same transaction uses that read, not a second SELECT.
    await inbound_flow(world, echo_start(), message_debounce_seconds=0)
    reads: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # store.whatsapp.inbound_workflow_settings: the trigger joined to its workflow
        # (the conversation lookup joins them too, from conversations)
        if " ".join(statement.split()).startswith(
            "SELECT workflows.id, workflows.message_debounce_seconds"
        ):
            reads.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", listen)
    try:
        await world.say("first")
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", listen)
    (execution,) = await executions_of(world, USER)
    assert execution["status"] == "waiting"
    assert await _outbox_texts(world) == ["got: first"]
    assert len(reads) == 1, reads
