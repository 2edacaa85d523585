"""The agent node against the fake LLM over real HTTP, on SQLite and PostgreSQL: a run that
saves a variable, messages the user, waits (enter_waiting), resumes on the reply,
answers in plain text and completes the task; a run that hands off; max_iterations; a
journaled turn that is not asked again (so its tools do not run twice); a webhook tool
on a loopback server, its answer cut by jmespath_query, called once; a function tool; a
knowledge-base tool."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from convoflow.engine.jobs import handle_action
from convoflow.engine.llm.conversation import ConversationCache, rebuild
from convoflow.engine.llm.model import Message
from convoflow.fakes.llm.rules import Rule, ToolCall
from convoflow.fakes.llm.server import FakeLLM
from convoflow.fakes.loopback import serve_app
from convoflow.process import Process
from convoflow.services.ai import provider_models
from convoflow.services.common import Actor
from convoflow.store.schema import action_journal, executions
from tests.support import (
    Chat,
    chat_payloads,
    edge,
    make_http_function,
    make_js_function,
    make_project,
    node,
    table_rows,
)

START = "no message from the user"  # what the model sees when an API/sandbox start opens


def call(tool: str, **arguments: Any) -> ToolCall:
    return ToolCall(name=tool, arguments=arguments)


CONVERSATION = [
    Rule(contains=START, tool_call=call("save_variable", name="topic", value="refund")),
    Rule(contains="saved vars.topic", tool_call=call("send_notification_to_user", message="Name?")),
    Rule(contains="sent", tool_call=call("enter_waiting", reason="need the name")),
    Rule(contains="I am Ana", tool_call=call("save_variable", name="name", value="Ana")),
    Rule(contains="saved vars.name", reply="Nice to meet you, Ana."),
    Rule(contains="bye", tool_call=call("complete_task", summary="got the name")),
]


def agent_flow(**agent: Any) -> dict[str, Any]:
    config = {
        "system_prompt": "You help {{vars.customer}}.",
        "provider_model_name": "fake",
        "max_iterations": 10,
        **agent,
    }
    nodes = [
        node("start", "start"),
        node("agent", "agent", **config),
        node("done", "send_text", message="done: {{vars.topic}} for {{vars.name}}"),
    ]
    return {"nodes": nodes, "edges": [edge("start", "agent"), edge("agent", "done")]}


async def _project(engine: Process, url: str, kind: str = "openai") -> str:
    """A project with the provider model `fake` on the fake LLM."""
    project_id = await make_project(engine)
    base = f"{url}/v1" if kind == "openai" else url
    fields = provider_models.ModelFields(
        name="fake", provider=kind, base_url=base, api_key="sk-fake", timeout_seconds=2
    )
    await provider_models.create(engine, Actor(project_id=project_id), fields)
    return project_id


async def _chat(
    engine: Process, url: str, kind: str = "openai", project_id: str | None = None, **agent: Any
) -> Chat:
    project_id = project_id or await _project(engine, url, kind)
    return await Chat.open(
        engine, agent_flow(**agent), project_id=project_id, variables={"customer": "Ana"}
    )


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_agent_saves_asks_waits_resumes_and_completes(
    kind: str, engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(CONVERSATION)
    chat = await _chat(engine, url, kind)
    assert await chat.texts() == ["Name?"]
    execution = await chat.execution()
    assert (execution["status"], execution["waiting_reason"]) == ("waiting", "agent")
    # The reply is the agent's next user turn; its plain answer is sent (auto_send).
    assert await chat.say("I am Ana") == [{"type": "text", "text": "Nice to meet you, Ana."}]
    assert (await chat.execution())["waiting_reason"] == "agent"
    assert await chat.say("bye") == [{"type": "text", "text": "done: refund for Ana"}]
    assert (await chat.execution())["status"] == "ended"
    turns = await chat_payloads(engine, chat, "agent_turn")
    assert [t["tool_calls"] for t in turns] == [
        ["save_variable"],
        ["send_notification_to_user"],
        ["enter_waiting"],
        ["save_variable"],
        [],
        ["complete_task"],
    ]
    assert all(t["ok"] and t["input_tokens"] for t in turns)
    # Each tool call with its arguments and the result the model read (the inspector).
    called = await chat_payloads(engine, chat, "agent_tool_called")
    assert [c["tool"] for c in called] == [
        "save_variable",
        "send_notification_to_user",
        "enter_waiting",
        "save_variable",
    ]
    assert called[0]["arguments"] == {"name": "topic", "value": "refund"}
    assert called[0]["result"].startswith("saved vars.topic")
    assert called[0]["turn"] == 1 and called[3]["turn"] == 4
    # What the model got: the rendered system prompt, the tools, the whole conversation.
    body = fake.requests[-1]["body"]
    # (Anthropic: as a cached block, prompt_cache_ttl's default 5m: test_agent_options.py.)
    system = body["system"][0]["text"] if kind == "anthropic" else body["messages"][0]["content"]
    assert system == "You help Ana."
    names = {t["name"] if kind == "anthropic" else t["function"]["name"] for t in body["tools"]}
    assert {"complete_task", "enter_waiting", "save_variable", "emit_event"} <= names
    assert "send_media" in names and "ask_about_file" not in names  # not implemented yet
    sent = repr(body["messages"])
    assert "I am Ana" in sent and "saved vars.topic" in sent and "Nice to meet you" in sent


async def test_tool_only_mode_does_not_send_plain_text(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(CONVERSATION)
    chat = await _chat(engine, url, message_delivery_mode="tool_only")
    assert await chat.texts() == ["Name?"]
    assert await chat.say("I am Ana") == []  # the model's text stays with the agent
    assert await chat.say("bye") == [{"type": "text", "text": "done: refund for Ana"}]


async def test_agent_hands_off(engine: Process, llm: tuple[FakeLLM, str]) -> None:
    fake, url = llm
    fake.script.replace([Rule(contains=START, tool_call=call("handoff_to_human", reason="angry"))])
    chat = await _chat(engine, url)
    execution = await chat.execution()
    assert execution["status"] == "handoff"
    assert await chat.texts() == []


async def test_max_iterations_fails_the_execution_clearly(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace([Rule(tool_call=call("get_current_datetime"))])  # never finishes
    chat = await _chat(engine, url, max_iterations=3)
    execution = await chat.execution()
    assert execution["status"] == "failed"
    assert len(fake.requests) == 3
    failed = await chat_payloads(engine, chat, "execution_failed")
    assert "reached max_iterations (3)" in repr(failed)
    assert [t["tool_calls"] for t in await chat_payloads(engine, chat, "agent_turn")] == [
        ["get_current_datetime"]
    ] * 3


async def _run_job_again(engine: Process, key: str) -> None:
    """The action job for `key` runs again (a worker that lost its lease, a crash after
    the commit)."""
    job = {"id": 987654321, "payload": {"key": key}, "attempts": 1, "expected_version": None}
    await handle_action(engine.runtime, job)


async def test_a_journaled_turn_is_not_asked_again_nor_its_tools_rerun(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(CONVERSATION)
    chat = await _chat(engine, url)
    assert await chat.texts() == ["Name?"]
    asked = len(fake.requests)
    # Each turn's action job runs again: the journal holds the answers, so nothing is
    # asked or sent again.
    executing = await chat_payloads(engine, chat, "action_executing")
    assert [e["key"].rsplit(":", 1)[1] for e in executing] == ["1", "2", "3"]
    for event in executing:
        await _run_job_again(engine, event["key"])
    await engine.worker.drain()
    assert len(fake.requests) == asked
    assert await chat.texts() == []
    assert len(await chat_payloads(engine, chat, "variables_set")) == 1


@pytest.fixture
async def orders() -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
    """A webhook target on loopback that records each request."""
    seen: list[dict[str, Any]] = []

    async def lookup(request: Request) -> JSONResponse:
        body = await request.json()
        headers = request.headers
        seen.append(
            {
                "body": body,
                "key": headers.get("idempotency-key"),
                "customer": headers.get("x-customer"),
                "query": request.url.query,
            }
        )
        order = {"id": body.get("order_id"), "status": "shipped", "items": 3}
        return JSONResponse({"order": order, "noise": "x" * 50})

    async def score(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append({"body": body, "key": request.headers.get("idempotency-key")})
        return JSONResponse({"vars": {"score": 7}, "verdict": "good lead"})

    routes = [Route("/orders", lookup, methods=["POST"]), Route("/score", score, methods=["POST"])]
    async with serve_app(Starlette(routes=routes)) as url:
        yield seen, url


async def test_webhook_tool_is_called_once_and_its_answer_queried(
    engine: Process, llm: tuple[FakeLLM, str], orders: tuple[list[dict[str, Any]], str]
) -> None:
    fake, url = llm
    seen, orders_url = orders
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call("lookup_order", order_id="A1")),
            Rule(contains='"shipped"', tool_call=call("save_variable", name="name", value="A1")),
            Rule(contains="saved vars.name", tool_call=call("complete_task")),
        ]
    )
    lookup = {
        "name": "lookup_order",
        "description": "Find an order by id",
        "url": f"{orders_url}/orders",
        "http_method": "POST",
        "headers": {"X-Customer": "{{vars.customer}}"},
        "body": {"source": "convoflow"},
        "body_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        "jmespath_query": "order.status",
    }
    chat = await _chat(engine, url, flow_agent_webhooks=[lookup])
    assert await chat.texts() == ["done:  for A1"]  # no vars.topic in this run
    assert [s["body"] for s in seen] == [{"source": "convoflow", "order_id": "A1"}]
    tool_message = fake.requests[1]["body"]["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["content"] == '"shipped"'
    offered = [t["function"] for t in fake.requests[0]["body"]["tools"]]
    assert {
        "name": "lookup_order",
        "description": "Find an order by id",
        "parameters": lookup["body_schema"],
    } in offered
    # The webhook's job runs again: its result is journaled, the order service is not
    # called a second time.
    [tool_key] = [
        e["key"]
        for e in await chat_payloads(engine, chat, "action_executing")
        if ":tool:" in e["key"]
    ]
    await _run_job_again(engine, tool_key)
    assert len(seen) == 1 and (seen[0]["key"], seen[0]["customer"]) == (tool_key, "Ana")
    assert (await chat.execution())["status"] == "ended"


async def test_function_tool_gets_the_input_and_its_vars_are_merged(
    engine: Process, llm: tuple[FakeLLM, str], orders: tuple[list[dict[str, Any]], str]
) -> None:
    fake, url = llm
    seen, base = orders
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call("score_lead", budget=5000)),
            Rule(contains="good lead", tool_call=call("complete_task")),
        ]
    )
    project_id = await _project(engine, url)
    function_id = await make_http_function(engine, project_id, f"{base}/score")
    tool = {"name": "score_lead", "function_id": function_id, "input_schema": {"type": "object"}}
    chat = await _chat(engine, url, project_id=project_id, flow_agent_function_tools=[tool])
    assert await chat.texts() == ["done:  for "]
    [request] = seen
    assert request["body"]["input"] == {"budget": 5000}
    assert request["body"]["flow_info"]["step_id"] == "agent"
    assert "execution_context" in request["body"]
    execution = await chat.execution()
    assert execution["context"]["vars"]["score"] == 7


SCORE_JS = """
async function handler(request, env) {
  const { input } = await request.json();
  return Response.json({ vars: { score: input.budget > 1000 ? 7 : 1 }, note: "good lead" });
}
"""


async def test_javascript_function_tool_runs_in_the_isolate(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call("score_lead", budget=5000)),
            Rule(contains="good lead", tool_call=call("complete_task")),
        ]
    )
    project_id = await _project(engine, url)
    function_id = await make_js_function(engine, project_id, SCORE_JS)
    tool = {"name": "score_lead", "function_id": function_id, "input_schema": {"type": "object"}}
    chat = await _chat(engine, url, project_id=project_id, flow_agent_function_tools=[tool])
    execution = await chat.execution()
    assert execution["status"] == "ended", execution.get("error_details")
    assert execution["context"]["vars"]["score"] == 7


async def test_knowledge_base_tool_answers_the_best_passages(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call("faq", query="refund")),
            Rule(contains="Refunds are paid", tool_call=call("complete_task")),
        ]
    )
    text = "Shipping is free.\n\nRefunds are paid in 14 days.\n\nWe open at 9."
    faq = {"name": "faq", "description": "Shop FAQ", "knowledge_base_text": text}
    chat = await _chat(engine, url, flow_agent_knowledge_bases=[faq])
    assert (await chat.execution())["status"] == "ended"
    tool_message = fake.requests[1]["body"]["messages"][-1]
    assert tool_message["content"] == "Refunds are paid in 14 days."
    offered = [t["function"]["name"] for t in fake.requests[0]["body"]["tools"]]
    assert "faq" in offered


async def test_send_media_tool(engine: Process, llm: tuple[FakeLLM, str]) -> None:
    fake, url = llm
    photo = "https://example.com/p.jpg"
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call("send_media", media_type="image", url=photo)),
            Rule(regex="^sent$", tool_call=call("send_media", media_type="audio", url="x")),
            Rule(contains="http(s) URL", tool_call=call("complete_task")),
        ]
    )
    chat = await _chat(engine, url)
    [image, _done] = await chat.bot()
    assert image["type"] == "image" and image["image"] == {"link": photo}
    tools_called = await chat_payloads(engine, chat, "agent_tool_called")
    assert [(t["tool"], t["ok"]) for t in tools_called] == [
        ("send_media", True),
        ("send_media", False),  # the model is told the URL is bad, and goes on
    ]


def _roles_and_contents(body: dict[str, Any]) -> list[tuple[str, str]]:
    """An OpenAI request's conversation, the system prompt left out."""
    return [(m["role"], m.get("content") or "") for m in body["messages"] if m["role"] != "system"]


WHOLE_CONVERSATION = [
    ("user", "(no message from the user yet)"),
    ("assistant", ""),  # save_variable
    ("tool", "saved vars.topic"),
    ("assistant", ""),  # send_notification_to_user
    ("tool", "sent"),
    ("assistant", ""),  # enter_waiting
    ("tool", "waiting for the user's reply"),
    ("user", "I am Ana"),
    ("assistant", ""),  # save_variable
    ("tool", "saved vars.name"),
    ("assistant", "Nice to meet you, Ana."),
    ("user", "bye"),
]


@pytest.mark.parametrize("held", [True, False], ids=["held", "rebuilt"])
async def test_each_turn_journals_only_what_is_new_and_the_model_gets_it_all(
    held: bool,
    engine: Process,
    llm: tuple[FakeLLM, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A turn's journaled request holds only its new messages; the model still gets the
    whole conversation, whether this process held it or rebuilt it from the journal (a
    restart, another worker: a cache that remembers nothing)."""
    if not held:
        monkeypatch.setattr(engine.runtime, "conversations", ConversationCache(size=0))
    fake, url = llm
    fake.script.replace(CONVERSATION)
    chat = await _chat(engine, url)
    await chat.say("I am Ana")
    await chat.say("bye")
    assert (await chat.execution())["status"] == "ended"
    assert _roles_and_contents(fake.requests[-1]["body"]) == WHOLE_CONVERSATION
    async with engine.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(action_journal.c.idempotency_key, action_journal.c.request)
                .where(action_journal.c.kind == "llm")
                .order_by(action_journal.c.created_at, action_journal.c.idempotency_key)
            )
        ).all()
    journaled = {
        key.rsplit(":", 1)[1]: [(m["role"], m["content"]) for m in request["messages"]]
        for key, request in rows
    }
    assert journaled == {
        "1": [("user", "(no message from the user yet)")],
        "2": [("tool", "saved vars.topic")],
        "3": [("tool", "sent")],
        "4": [("tool", "waiting for the user's reply"), ("user", "I am Ana")],
        "5": [("tool", "saved vars.name")],
        "6": [("user", "bye")],
    }


async def test_a_waiting_agent_of_the_whole_conversation_format_goes_on(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    """An execution parked by a version that kept the whole conversation on the cursor
    (`agent.messages`) continues with it after an upgrade."""
    fake, url = llm
    fake.script.replace(CONVERSATION)
    chat = await _chat(engine, url)
    assert await chat.texts() == ["Name?"]
    execution_id = (await chat.execution())["id"]
    [row] = await table_rows(engine, executions, id=execution_id)
    cursor = dict(row["cursor"])
    state = dict(cursor["agent"])
    prefix = f"{execution_id}:agent:{cursor['entered_seq']}:turn:"
    async with engine.db.read() as conn:
        history = await rebuild(conn, prefix, state.pop("first"), state["turn"])
    state["messages"] = [_journaled(m) for m in history] + state.pop("new")
    async with engine.db.write() as conn:
        await conn.execute(
            sa.update(executions)
            .where(executions.c.id == execution_id)
            .values(cursor={**cursor, "agent": state})
        )
    await chat.say("I am Ana")
    await chat.say("bye")
    assert (await chat.execution())["status"] == "ended"
    assert _roles_and_contents(fake.requests[-1]["body"]) == WHOLE_CONVERSATION


def _journaled(message: Message) -> dict[str, Any]:
    """A message as the old format journaled it on the cursor."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [dataclasses.asdict(call) for call in message.tool_calls]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out
