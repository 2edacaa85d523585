"""handoff, emit_event (with project_event observers) and agent."""

from __future__ import annotations

from convoflow.ids import new_id
from convoflow.store.schema import executions, messages, outbox, project_events, triggers
from tests.support import (
    Chat,
    chain,
    events,
    insert_row,
    make_project,
    make_workflow,
    node,
    table_rows,
)


async def test_handoff_stops_the_bot_and_keeps_user_messages_for_the_human(engine):
    flow = chain(
        node("start", "start"),
        node("notice", "send_text", message="connecting you"),
        node(
            "human",
            "handoff",
            reason="Customer asks about {{vars.topic}}",
            context_data={"topic": "{{vars.topic}}", "priority": 2},
        ),
    )
    chat = await Chat.open(engine, flow, variables={"topic": "billing"})
    assert await chat.texts() == ["connecting you"]
    execution = await chat.execution()
    assert execution["status"] == "handoff"
    assert execution["ended_at"] is None
    [event] = [
        e for e in await events(engine, execution["id"]) if e["event_type"] == "execution_handoff"
    ]
    assert event["node_id"] == "human"
    assert event["payload"]["reason"] == "Customer asks about billing"
    assert event["payload"]["context_data"] == {"topic": "billing", "priority": 2}
    assert execution["context"]["system"]["handoff"]["reason"] == "Customer asks about billing"

    seq_before = execution["event_seq"]
    assert await chat.say("hello? anyone?") == []
    assert await chat.say("still there?") == []
    inbound = [
        m
        for m in await table_rows(engine, messages, conversation_id=chat.conversation_id)
        if m["direction"] == "inbound"
    ]
    assert [m["content"]["text"] for m in sorted(inbound, key=lambda m: m["created_at"])] == [
        "hello? anyone?",
        "still there?",
    ]
    assert {m["routing"] for m in inbound} == {"handoff"}
    assert {m["execution_id"] for m in inbound} == {execution["id"]}
    after = await chat.execution()
    assert after["status"] == "handoff"
    assert after["event_seq"] == seq_before
    assert len(await table_rows(engine, outbox, execution_id=execution["id"])) == 1


async def add_event_trigger(engine, project_id, workflow_id, event_name, **extra):
    now = engine.clock.now()
    await insert_row(
        engine,
        triggers,
        {
            "id": new_id(),
            "project_id": project_id,
            "workflow_id": workflow_id,
            "trigger_type": "project_event",
            "active": True,
            "event_name": event_name,
            "created_at": now,
            "updated_at": now,
            **extra,
        },
    )


async def test_emit_event_stores_the_event_and_starts_silent_observers(engine):
    project_id = await make_project(engine)
    observer_flow = chain(
        node("start", "start"),
        node("talk", "send_text", message="an observer must not talk"),
        node(
            "note",
            "set_variable",
            variable_name="seen_score",
            variable_value="{{system.event.properties.score}}",
            value_type="number",
        ),
    )
    observer_id = await make_workflow(engine, project_id, observer_flow, name="observer")
    filtered_id = await make_workflow(engine, project_id, observer_flow, name="filtered")
    matching_id = await make_workflow(engine, project_id, observer_flow, name="matching")
    other_id = await make_workflow(engine, project_id, observer_flow, name="other event")
    await add_event_trigger(engine, project_id, observer_id, "lead.created")
    await add_event_trigger(
        engine,
        project_id,
        matching_id,
        "lead.created",
        property_key="who",
        operator="eq",
        property_value="Ana",
    )
    await add_event_trigger(
        engine,
        project_id,
        filtered_id,
        "lead.created",
        property_key="who",
        operator="eq",
        property_value="Bob",
    )
    await add_event_trigger(engine, project_id, other_id, "lead.lost")

    flow = chain(
        node("start", "start"),
        node(
            "emit",
            "emit_event",
            event_name="lead.created",
            properties={"who": "{{vars.name}}", "score": 5},
        ),
        node("done", "send_text", message="done"),
    )
    chat = await Chat.open(engine, flow, project_id=project_id, variables={"name": "Ana"})
    assert await chat.texts() == ["done"]
    execution = await chat.execution()
    assert execution["status"] == "ended"

    [stored] = await table_rows(engine, project_events, project_id=project_id)
    assert stored["name"] == "lead.created"
    assert stored["properties"] == {"who": "Ana", "score": 5}
    assert stored["conversation_id"] == chat.conversation_id
    assert stored["source_execution_id"] == execution["id"]
    [performed] = [
        e
        for e in await events(engine, execution["id"])
        if e["event_type"] == "action_performed" and e["payload"]["action"] == "emit_event"
    ]
    assert performed["payload"]["event_id"] == stored["id"]

    observers = await table_rows(engine, executions, observer=True)
    assert sorted(o["workflow_id"] for o in observers) == sorted([observer_id, matching_id])
    for observer in observers:
        assert observer["status"] == "ended"
        assert observer["trigger_type"] == "project_event"
        assert observer["conversation_id"] == chat.conversation_id
        assert observer["context"]["system"]["event"]["name"] == "lead.created"
        assert observer["context"]["vars"]["seen_score"] == 5
        assert await table_rows(engine, outbox, execution_id=observer["id"]) == []
        kinds = [e["event_type"] for e in await events(engine, observer["id"])]
        assert "message_suppressed" in kinds
    assert await chat.texts() == []  # nothing from the observer reached the user


async def test_agent_fails_without_a_provider_model(engine):
    flow = chain(
        node("start", "start"),
        node("bot", "agent", system_prompt="You are helpful"),
        node("after", "send_text", message="must not be sent"),
    )
    chat = await Chat.open(engine, flow)
    execution = await chat.execution()
    assert execution["status"] == "failed"
    assert execution["error_details"]["step_identifier"] == "bot"
    assert execution["error_details"]["code"] == "no_provider_model"
    assert "no provider model configured" in execution["error_details"]["message"]
    assert await chat.texts() == []
