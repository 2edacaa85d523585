"""Cross-cutting engine rules: Kapso event names and gap-free sequences, the loop guard,
and version pinning."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from convoflow.store.schema import execution_events, executions
from tests.support import (
    Chat,
    chain,
    edge,
    events,
    join_chat,
    make_project,
    make_workflow,
    new_version,
    node,
    table_rows,
)


async def assert_sequences_gap_free(engine) -> int:
    """Every execution's events are numbered 1..n, n == executions.event_seq."""
    async with engine.db.read() as conn:
        seqs: dict[str, list[int]] = {}
        for row in await conn.execute(
            sa.select(execution_events.c.execution_id, execution_events.c.seq)
        ):
            seqs.setdefault(row.execution_id, []).append(row.seq)
        counters = {
            row.id: row.event_seq
            for row in await conn.execute(sa.select(executions.c.id, executions.c.event_seq))
        }
    assert set(seqs) == set(counters)
    for execution_id, numbers in seqs.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), execution_id
        assert counters[execution_id] == len(numbers)
    return len(seqs)


RICH_FLOW: dict[str, Any] = {
    "nodes": [
        node("start", "start"),
        node("ask", "send_text", message="age?"),
        node("wait", "wait_for_response", has_timeout=True, timeout_seconds=60),
        node(
            "check",
            "decide",
            decision_type="rules",
            conditions=[
                {"label": "number", "expression": "str(vars.last_user_input).isdigit()"},
                {"label": "other"},
            ],
        ),
        node(
            "store",
            "set_variable",
            variable_name="age",
            variable_value="{{vars.last_user_input}}",
            value_type="number",
        ),
        node("again", "send_text", message="a number please"),
        node("thanks", "send_text", message="thanks"),
    ],
    "edges": [
        edge("start", "ask"),
        edge("ask", "wait"),
        edge("wait", "check"),
        edge("check", "store", "number"),
        edge("check", "again", "other"),
        edge("again", "wait"),
        edge("store", "thanks"),
    ],
}


async def test_kapso_event_names_and_gap_free_sequence_across_advances(engine, clock):
    chat = await Chat.open(engine, RICH_FLOW)
    assert await chat.texts() == ["age?"]
    clock.advance(60)  # the wait times out: decide takes "other", asks again
    await engine.worker.drain()
    assert await chat.texts() == ["a number please"]
    assert [m["text"] for m in await chat.say("nope")] == ["a number please"]
    assert [m["text"] for m in await chat.say("42")] == ["thanks"]
    execution = await chat.execution()
    assert execution["status"] == "ended"
    assert execution["context"]["vars"]["age"] == 42

    timeline = await events(engine, execution["id"])
    assert [e["seq"] for e in timeline] == list(range(1, len(timeline) + 1))
    kinds = [e["event_type"] for e in timeline]
    assert kinds[0] == "execution_started"
    assert kinds[-1] == "execution_ended"
    for name in (
        "step_entered",
        "step_completed",
        "action_performed",
        "wait_timeout",
        "user_input_received",
        "decision_evaluated",
        "variables_set",
    ):
        assert name in kinds, name
    assert kinds.count("user_input_received") == 2
    assert kinds.count("wait_timeout") == 1
    # Each step_completed names the edge it left by.
    labels = [e["edge_label"] for e in timeline if e["event_type"] == "step_completed"]
    assert labels.count("other") == 2 and labels.count("number") == 1
    assert await assert_sequences_gap_free(engine) == 1


async def test_failure_events_and_gap_free_sequences_of_several_executions(engine, http_server):
    http_server.replies = [(404, "missing")]
    project_id = await make_project(engine, allow_private_network=True)
    failing = chain(node("start", "start"), node("hook", "webhook", url=http_server.url))
    chat = await Chat.open(engine, failing, project_id=project_id)
    execution = await chat.execution()
    kinds = [e["event_type"] for e in await events(engine, execution["id"])]
    assert kinds[-3:] == ["action_failed", "step_failed", "execution_failed"]
    assert "action_executing" in kinds
    await join_chat(engine, project_id, chat.workflow_id)
    rich_id = await make_workflow(engine, project_id, RICH_FLOW, name="rich")
    await join_chat(engine, project_id, rich_id, user="other-user")
    assert await assert_sequences_gap_free(engine) == 3


def loop_flow() -> dict[str, Any]:
    return {
        "nodes": [
            node("start", "start"),
            node("a", "set_variable", variable_name="x", variable_value="a"),
            node("b", "set_variable", variable_name="x", variable_value="b"),
        ],
        "edges": [edge("start", "a"), edge("a", "b"), edge("b", "a")],
    }


async def test_loop_guard_fails_a_cycle_without_wait_after_500_steps(engine):
    chat = await Chat.open(engine, loop_flow())
    execution = await chat.execution()
    assert execution["status"] == "failed"
    details = execution["error_details"]
    assert details["code"] == "loop_guard"
    assert details["message"].startswith(
        "loop guard: 500 steps ran without waiting; max_steps_without_wait is 500."
    )
    entered = [
        e for e in await events(engine, execution["id"]) if e["event_type"] == "step_entered"
    ]
    assert len(entered) == 501  # start + 500 steps, the 501st transition is refused


async def test_project_setting_overrides_the_loop_guard(engine):
    project_id = await make_project(engine, max_steps_without_wait=20)
    chat = await Chat.open(engine, loop_flow(), project_id=project_id)
    execution = await chat.execution()
    assert execution["status"] == "failed"
    assert "max_steps_without_wait is 20" in execution["error_details"]["message"]
    entered = [
        e for e in await events(engine, execution["id"]) if e["event_type"] == "step_entered"
    ]
    assert len(entered) == 21


async def test_a_wait_resets_the_loop_guard(engine):
    project_id = await make_project(engine, max_steps_without_wait=4)
    flow = {
        "nodes": [
            node("start", "start"),
            node("wait", "wait_for_response"),
            node("one", "set_variable", variable_name="x", variable_value="1"),
            node("two", "send_text", message="echo {{vars.last_user_input}}"),
        ],
        "edges": [
            edge("start", "wait"),
            edge("wait", "one"),
            edge("one", "two"),
            edge("two", "wait"),
        ],
    }
    chat = await Chat.open(engine, flow, project_id=project_id)
    for turn in range(4):
        assert [m["text"] for m in await chat.say(f"t{turn}")] == [f"echo t{turn}"]
    assert (await chat.execution())["status"] == "waiting"


V1 = chain(
    node("start", "start"),
    node("hello", "send_text", message="v1 hello"),
    node("w1", "wait_for_response"),
    node("bye", "send_text", message="v1 bye {{vars.last_user_input}}"),
)
V2 = chain(
    node("start", "start"),
    node("hello", "send_text", message="v2 hello"),
    node("w2", "wait_for_response"),
    node("bye", "send_text", message="v2 bye"),
)


async def test_waiting_execution_keeps_its_version_after_a_new_one(engine):
    chat = await Chat.open(engine, V1)
    assert await chat.texts() == ["v1 hello"]
    parked = await chat.execution()
    assert parked["current_node_id"] == "w1"

    v2_id = await new_version(engine, chat.workflow_id, V2)  # v2 has no node "w1"
    assert v2_id != parked["version_id"]

    fresh = await join_chat(engine, chat.project_id, chat.workflow_id, user="second-user")
    assert await fresh.texts() == ["v2 hello"]
    assert (await fresh.execution())["version_id"] == v2_id

    assert [m["text"] for m in await chat.say("ok")] == ["v1 bye ok"]
    finished = await chat.execution()
    assert finished["status"] == "ended"
    assert finished["version_id"] == parked["version_id"]
    assert [m["text"] for m in await fresh.say("ok")] == ["v2 bye"]


async def test_pinned_version_survives_several_new_versions_and_timers(engine, clock):
    v1 = chain(
        node("start", "start"),
        node("w1", "wait_for_response", has_timeout=True, timeout_seconds=3600),
        node("bye", "send_text", message="v1 timed out"),
    )
    project_id = await make_project(engine)
    workflow_id = await make_workflow(engine, project_id, v1)
    chat = await join_chat(engine, project_id, workflow_id)
    for text in ("v2", "v3"):
        await new_version(
            engine, workflow_id, chain(node("start", "start"), node("x", "send_text", message=text))
        )
    clock.advance(3600)
    await engine.worker.drain()
    assert await chat.texts() == ["v1 timed out"]
    rows = await table_rows(engine, executions, workflow_id=workflow_id)
    assert [r["status"] for r in rows] == ["ended"]
