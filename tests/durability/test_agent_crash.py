"""Kill the worker with SIGKILL at random moments while agent conversations run.

The worker is a real subprocess (`python -m convoflow worker`) talking to the fake LLM
over loopback; this test process plays the users and keeps killing and restarting the
worker. Each agent calls a webhook tool, messages the user, waits, saves a variable on
the reply and completes. Afterwards every conversation has exactly its expected
transcript (no message lost or sent twice), exactly its five model turns (no turn lost
or committed twice), one user input, and one webhook key (a call may repeat after a
crash, always with the same key). Every turn journals only its new messages, so the last
turn's request to the model must still carry the whole conversation, whichever worker
process (killed or not) rebuilt it from the journal.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from convoflow.config import Settings
from convoflow.fakes.llm.rules import Rule, Script, ToolCall
from convoflow.fakes.llm.server import FakeLLM
from convoflow.fakes.loopback import serve_app
from convoflow.process import Process, build_process
from convoflow.services.ai import provider_models
from convoflow.services.common import Actor
from convoflow.services.conversations import sandbox
from convoflow.store.schema import execution_events, executions
from tests.durability.receiver import Receiver
from tests.durability.test_crash import (
    Killer,
    WorkerProcess,
    _finished,
    _waiting_at,
    outbound_transcripts,
)
from tests.support import make_project, make_workflow, node

CONVERSATIONS = 20
KILLS = 8
DEADLINE_SECONDS = 240
TURNS = 5
TRANSCRIPT = ["What is your name?", "bye given"]


def call(tool: str, **arguments: Any) -> ToolCall:
    return ToolCall(name=tool, arguments=arguments)


def rules() -> list[Rule]:
    """The agent's five turns, matched on the last user message or tool result."""
    return [
        Rule(regex="^hi$", tool_call=call("lookup", q="x")),
        Rule(contains='"echo"', tool_call=call("send_notification_to_user", message=TRANSCRIPT[0])),
        Rule(contains="sent", tool_call=call("enter_waiting")),
        Rule(contains="saved vars.name", tool_call=call("complete_task")),
        Rule(contains="my name", tool_call=call("save_variable", name="name", value="given")),
    ]


def agent_flow(**tools: Any) -> dict[str, Any]:
    """start → agent (with `tools`: flow_agent_webhooks=..., ...) → bye."""
    nodes = [
        node("start", "start"),
        node(
            "agent",
            "agent",
            provider_model_name="fake",
            max_iterations=10,
            message_delivery_mode="tool_only",
            **tools,
        ),
        node("bye", "send_text", message="bye {{vars.name}}"),
    ]
    edges = [
        {"source": "start", "target": "agent", "label": "next"},
        {"source": "agent", "target": "bye", "label": "next"},
    ]
    return {"nodes": nodes, "edges": edges}


async def open_conversations(
    engine: Process, llm_url: str, definition: dict[str, Any], count: int
) -> list[str]:
    """A project with the provider model `fake` on the fake LLM at `llm_url`, the agent
    workflow, and `count` sandbox conversations with it (not started)."""
    project_id = await make_project(engine, allow_private_network=True)
    fields = provider_models.ModelFields(
        name="fake", provider="openai", base_url=f"{llm_url}/v1", api_key="k"
    )
    await provider_models.create(engine, Actor(project_id=project_id), fields)
    workflow_id = await make_workflow(engine, project_id, definition)
    return [
        await sandbox.open_conversation(
            engine, project_id=project_id, workflow_id=workflow_id, user=f"u{i}"
        )
        for i in range(count)
    ]


async def run_while_killing(
    engine: Process, conversations: list[str], worker: WorkerProcess
) -> None:
    """Start the worker, say "hi" in every conversation, answer each agent's question, and
    kill the worker KILLS times meanwhile, until every conversation has finished."""
    await worker.start()
    for conversation_id in conversations:
        await sandbox.say(engine, conversation_id, "hi")
    await _play_users(engine, conversations, worker)
    assert worker.kills >= KILLS


async def _play_users(engine: Process, conversations: list[str], worker: WorkerProcess) -> None:
    answered: set[str] = set()
    killer = Killer(worker, KILLS, seed=20261130, gap=(0.3, 1.2))
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        await killer.maybe_kill()
        for conversation_id, node_id in (await _waiting_at(engine)).items():
            if node_id == "agent" and conversation_id not in answered:
                answered.add(conversation_id)
                await sandbox.say(engine, conversation_id, "my name is Bob")
        if killer.done and await _finished(engine, len(conversations)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"agent conversations did not finish within {DEADLINE_SECONDS}s ({worker.kills} kills)"
    )


@pytest.mark.slow
async def test_sigkill_during_agent_loops_repeats_and_loses_nothing(db_url: str) -> None:
    engine = build_process(db_url, settings=Settings(worker_poll_seconds=0.05))
    worker = WorkerProcess(db_url)
    fake = FakeLLM(Script(rules()))
    try:
        async with serve_app(fake.app) as llm_url:
            with Receiver() as receiver:
                lookup = {"name": "lookup", "url": receiver.url, "body": {"a": 1}}
                flow = agent_flow(flow_agent_webhooks=[lookup])
                conversations = await open_conversations(engine, llm_url, flow, CONVERSATIONS)
                await run_while_killing(engine, conversations, worker)
                calls = Counter(receiver.calls)
        await _check_outcome(engine, conversations, calls)
        _check_last_turns(fake.requests, len(conversations))
    finally:
        await worker.stop()
        await engine.close()


async def _check_outcome(engine: Process, conversations: list[str], calls: Counter[str]) -> None:
    async with engine.db.read() as conn:
        rows = (await conn.execute(sa.select(executions))).mappings().all()
        assert len(rows) == len(conversations)
        for row in rows:
            assert row["status"] == "ended", (row["status"], row["error_details"])
            assert row["context"]["vars"]["name"] == "given"
        transcripts = await outbound_transcripts(conn, conversations)
        assert all(t == TRANSCRIPT for t in transcripts.values()), transcripts
        counted = (
            await conn.execute(
                sa.select(execution_events.c.event_type, sa.func.count())
                .where(execution_events.c.event_type.in_(("agent_turn", "user_input_received")))
                .group_by(execution_events.c.event_type)
            )
        ).all()
        n = len(conversations)
        assert dict(counted) == {"agent_turn": TURNS * n, "user_input_received": n}
    # One webhook key per conversation; a repeat after a crash reuses it.
    assert len(calls) == len(conversations)


# The conversation the last turn (answered by complete_task) continues.
LAST_TURN = [
    ("user", "hi"),
    ("assistant", "lookup"),
    ("tool", '"echo"'),
    ("assistant", "send_notification_to_user"),
    ("tool", "sent"),
    ("assistant", "enter_waiting"),
    ("tool", "waiting for the user's reply"),
    ("user", "my name is Bob"),
    ("assistant", "save_variable"),
    ("tool", "saved vars.name"),
]


def _check_last_turns(requests: list[dict[str, Any]], n: int) -> None:
    last = [
        r["body"]["messages"]
        for r in requests
        if r["body"]["messages"][-1].get("content") == "saved vars.name"
    ]
    assert len(last) >= n  # a turn asked again after a kill asks the same
    for messages in last:
        seen = [
            (
                m["role"],
                m["tool_calls"][0]["function"]["name"] if m.get("tool_calls") else m["content"],
            )
            for m in messages
            if m["role"] != "system"
        ]
        assert [role for role, _ in seen] == [role for role, _ in LAST_TURN], seen
        for (_, got), (_, wanted) in zip(seen, LAST_TURN, strict=True):
            assert wanted in got, seen


def _said(message: dict[str, Any]) -> str:
    """A message's text, or the name of the tool an assistant message called."""
    calls = message.get("tool_calls")
    return str(calls[0]["function"]["name"]) if calls else str(message.get("content") or "")
