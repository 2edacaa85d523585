"""The agent node's options that shape what the model is asked (kapso-reference §2.2),
checked on the request the fake LLM received: reasoning_effort (OpenAI), prompt caching
(Anthropic cache_control), send_media by uploaded media id, a webhook tool's AI fields,
observer_prompt_mode, and the options convoflow cannot honour reported on an event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from convoflow.fakes.llm.rules import Rule
from convoflow.fakes.llm.server import FakeLLM
from convoflow.fakes.loopback import serve_app
from convoflow.process import Process
from convoflow.store.schema import executions
from tests.ai.test_agent import START, _chat, _project, agent_flow, call
from tests.support import chat_payloads, make_workflow, table_rows

DONE = [Rule(contains=START, tool_call=call("complete_task"))]


async def test_reasoning_effort_goes_to_openai_as_a_reasoning_request(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(DONE)
    chat = await _chat(engine, url, reasoning_effort="low", max_tokens=900)
    assert (await chat.execution())["status"] == "ended"
    body = fake.requests[0]["body"]
    assert body["reasoning_effort"] == "low" and body["max_completion_tokens"] == 900
    # Reasoning models refuse these two.
    assert "max_tokens" not in body and "temperature" not in body
    assert await chat_payloads(engine, chat, "agent_options_ignored") == []


async def test_anthropic_gets_cache_breakpoints_with_the_ttl_and_no_reasoning_effort(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call("get_current_datetime")),
            Rule(tool_call=call("complete_task")),
        ]
    )
    chat = await _chat(engine, url, "anthropic", prompt_cache_ttl="1h", reasoning_effort="high")
    assert (await chat.execution())["status"] == "ended"
    control = {"type": "ephemeral", "ttl": "1h"}
    for sent in fake.requests:
        body = sent["body"]
        assert body["system"] == [
            {"type": "text", "text": "You help Ana.", "cache_control": control}
        ]
        assert body["messages"][-1]["content"][-1]["cache_control"] == control
        assert "reasoning_effort" not in body
        assert sent["headers"]["anthropic-beta"] == "extended-cache-ttl-2025-04-11"
    [ignored] = await chat_payloads(engine, chat, "agent_options_ignored")
    assert [o["option"] for o in ignored["options"]] == ["reasoning_effort"]


async def test_options_that_cannot_be_honoured_are_reported(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(DONE)
    chat = await _chat(
        engine,
        url,
        prompt_cache_ttl="1h",
        enabled_default_tools=["ask_about_file", "complete_task"],
        default_tool_configs={"emit_event": {"event_definition_ids": ["evd_1"]}},
    )
    assert (await chat.execution())["status"] == "ended"
    [ignored] = await chat_payloads(engine, chat, "agent_options_ignored")
    assert [o["option"] for o in ignored["options"]] == [
        "prompt_cache_ttl",
        "default_tool_configs.emit_event.event_definition_ids",
        "ask_about_file",
    ]
    names = [t["function"]["name"] for t in fake.requests[0]["body"]["tools"]]
    assert names == ["complete_task"]


async def test_send_media_by_uploaded_media_id(engine: Process, llm: tuple[FakeLLM, str]) -> None:
    fake, url = llm
    both = {"media_type": "image", "media_id": "123", "url": "https://example.com/a.png"}
    fake.script.replace(
        [
            Rule(
                contains=START, tool_call=call("send_media", media_type="document", media_id="m9")
            ),
            Rule(regex="^sent$", tool_call=call("send_media", **both)),
            Rule(contains="one of", tool_call=call("complete_task")),
        ]
    )
    chat = await _chat(engine, url)
    [document, _done] = await chat.bot()
    assert document == {"type": "document", "document": {"id": "m9"}}
    tools_called = await chat_payloads(engine, chat, "agent_tool_called")
    assert [(t["tool"], t["ok"]) for t in tools_called] == [
        ("send_media", True),
        ("send_media", False),
    ]
    offered = {t["function"]["name"]: t["function"] for t in fake.requests[0]["body"]["tools"]}
    assert "media_id" in offered["send_media"]["parameters"]["properties"]


@pytest.fixture
async def tickets() -> AsyncIterator[tuple[list[Any], str]]:
    seen: list[Any] = []

    async def create(request: Request) -> JSONResponse:
        seen.append(await request.json())
        return JSONResponse({"ticket": "T-1"})

    async with serve_app(Starlette(routes=[Route("/tickets", create, methods=["POST"])])) as url:
        yield seen, url


async def test_webhook_tool_ai_fields_are_arguments_the_model_fills(
    engine: Process, llm: tuple[FakeLLM, str], tickets: tuple[list[Any], str]
) -> None:
    fake, url = llm
    seen, base = tickets
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call("open_ticket", priority="high")),
            Rule(contains="is required", tool_call=call("open_ticket", summary="Late parcel")),
            Rule(contains="T-1", tool_call=call("complete_task")),
        ]
    )
    webhook = {
        "name": "open_ticket",
        "url": f"{base}/tickets",
        "body": {"source": "agent", "details": {"summary": {"$ai": {}}}},
        "ai_field_config": {
            "details.summary": {"mode": "prompt", "prompt": "One line saying what went wrong."}
        },
    }
    chat = await _chat(engine, url, flow_agent_webhooks=[webhook])
    assert (await chat.execution())["status"] == "ended"
    # The first call lacked the field: the model was told, the webhook not called.
    assert seen == [{"source": "agent", "details": {"summary": "Late parcel"}}]
    [tool] = [
        t["function"]
        for t in fake.requests[0]["body"]["tools"]
        if t["function"]["name"] == "open_ticket"
    ]
    assert tool["parameters"]["properties"]["summary"] == {
        "type": "string",
        "description": "One line saying what went wrong.",
    }
    assert tool["parameters"]["required"] == ["summary"]


async def test_webhook_tool_ai_fields_sharing_a_last_part_are_named_by_their_path(
    engine: Process, llm: tuple[FakeLLM, str], tickets: tuple[list[Any], str]
) -> None:
    # `customer.name` and `agent.name` were one argument `name`: the second was reported
    # missing on every call and the webhook never called.
    fake, url = llm
    seen, base = tickets
    names = {"customer.name": "Ana", "agent.name": "Bot"}
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call("open_ticket", **names)),
            Rule(contains="T-1", tool_call=call("complete_task")),
        ]
    )
    webhook = {
        "name": "open_ticket",
        "url": f"{base}/tickets",
        "body": {"customer": {"name": {"$ai": {}}}, "agent": {"name": {"$ai": {}}}},
    }
    chat = await _chat(engine, url, flow_agent_webhooks=[webhook])
    assert (await chat.execution())["status"] == "ended"
    assert seen == [{"customer": {"name": "Ana"}, "agent": {"name": "Bot"}}]
    [tool] = [
        t["function"]
        for t in fake.requests[0]["body"]["tools"]
        if t["function"]["name"] == "open_ticket"
    ]
    assert sorted(tool["parameters"]["required"]) == ["agent.name", "customer.name"]


async def test_observer_analysis_only_offers_no_user_facing_tools(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(DONE)
    project_id = await _project(engine, url)
    flow = agent_flow(observer_prompt_mode="analysis_only")
    workflow_id = await make_workflow(engine, project_id, flow)
    state = await engine.runtime.start_execution(
        project_id=project_id,
        workflow_id=workflow_id,
        trigger_type="project_event",
        context={"channel": "sandbox"},
        observer=True,
    )
    await engine.worker.drain()
    body = fake.requests[0]["body"]
    names = {t["function"]["name"] for t in body["tools"]}
    assert not names & {"send_notification_to_user", "send_media", "enter_waiting"}
    assert "complete_task" in names
    assert "You are observing this conversation" in body["messages"][0]["content"]
    [execution] = await table_rows(engine, executions, id=state.id)
    assert execution["status"] == "ended"
