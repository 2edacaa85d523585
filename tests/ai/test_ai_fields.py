"""AI fields through the fake LLM over real HTTP, on SQLite and PostgreSQL: send_text,
send_interactive (body, header, footer), send_template parameters and a webhook body are
written by the model from their prompts; each field is asked once; failures are clear."""

from __future__ import annotations

import json
from typing import Any

from convoflow.clock import FakeClock
from convoflow.fakes.llm.rules import Rule
from convoflow.fakes.llm.server import FakeLLM
from convoflow.process import Process
from convoflow.services.ai import provider_models
from convoflow.services.common import Actor
from tests.ai.test_decide_ai import retry_until_settled
from tests.support import Chat, chain, events, make_project, node
from tests.whatsapp.conftest import Receiver, receiver  # noqa: F401  (fixture)

AI: dict[str, Any] = {"$ai": {}}
RULES = [
    Rule(contains="greet Ana", reply="Hello Ana, welcome back!"),
    Rule(contains="menu body", reply="  What would you like to do today?  "),
    Rule(contains="menu header", reply="Main menu"),
    Rule(contains="first parameter", reply="Ana"),
    Rule(contains="summarise", reply="Ana wants the menu"),
    Rule(contains="explode", status=500),
]


def _prompt(text: str) -> dict[str, str]:
    return {"mode": "prompt", "prompt": text}


async def _project(engine: Process, url: str, name: str = "test") -> str:
    project_id = await make_project(engine, name)
    fields = provider_models.ModelFields(name="writer", provider="anthropic", base_url=url)
    await provider_models.create(engine, Actor(project_id=project_id), fields)
    return project_id


async def test_fields_are_generated_once_each(
    engine: Process,
    llm: tuple[FakeLLM, str],
    receiver: Receiver,  # noqa: F811
) -> None:
    fake, url = llm
    fake.script.replace(RULES)
    flow = chain(
        node("start", "start"),
        node(
            "hello",
            "send_text",
            message=AI,
            provider_model_name="writer",
            ai_field_config={"message": _prompt("greet {{vars.name}} warmly")},
        ),
        node(
            "menu",
            "send_interactive",
            interactive_type="button",
            body_text=AI,
            header_type="text",
            header_text=AI,
            footer_text="Reply with a button",
            buttons=[{"id": "menu", "title": "Menu"}],
            provider_model_name="writer",
            ai_field_config={
                "body_text": _prompt("menu body for {{vars.name}}"),
                "header_text": _prompt("menu header"),
            },
        ),
        node(
            "tpl",
            "send_template",
            template_id="t-1",
            template_name="welcome",
            parameters={"1": AI, "2": "{{vars.name}}"},
            provider_model_name="writer",
            ai_field_config={"parameters.1": _prompt("first parameter")},
        ),
        node(
            "hook",
            "webhook",
            url=receiver.url,
            method="POST",
            body_template={"summary": AI, "name": "{{vars.name}}"},
            provider_model_name="writer",
            ai_field_config={"summary": _prompt("summarise the chat with {{vars.name}}")},
        ),
    )
    project_id = await _project(engine, url)
    chat = await Chat.open(engine, flow, project_id=project_id, variables={"name": "Ana"})
    hello, menu, template = await chat.bot()
    assert hello == {"type": "text", "text": "Hello Ana, welcome back!"}
    interactive = menu["interactive"]
    assert interactive["body_text"] == "What would you like to do today?"  # stripped
    assert interactive["header_text"] == "Main menu"
    assert interactive["footer_text"] == "Reply with a button"
    assert template["template"]["parameters"] == {"1": "Ana", "2": "Ana"}
    [hit] = await receiver.wait_for(1)
    assert json.loads(hit.body) == {"summary": "Ana wants the menu", "name": "Ana"}
    assert (await chat.execution())["status"] == "ended"
    # One call per field, each with its rendered prompt.
    prompts = [r["body"]["messages"][-1]["content"] for r in fake.requests]
    assert prompts == [
        "greet Ana warmly",
        "menu body for Ana",
        "menu header",
        "first parameter",
        "summarise the chat with Ana",
    ]
    generated = [
        e["payload"]
        for e in await events(engine, (await chat.execution())["id"])
        if e["event_type"] == "ai_field_generated"
    ]
    assert [g["field"] for g in generated] == [
        "message",
        "body_text",
        "header_text",
        "parameters.1",
        "body.summary",
    ]
    assert all(g["ok"] and g["provider_model"] == "writer" for g in generated)
    assert generated[0]["output_tokens"] == 4 and generated[0]["latency_ms"] is not None


async def test_failures_are_clear(
    engine: Process, clock: FakeClock, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(RULES)
    cases = [
        (
            {"provider_model_name": "writer", "ai_field_config": {"message": _prompt("explode")}},
            "ai_field_failed",
            "AI field message could not be generated: the endpoint answered HTTP 500",
        ),
        (
            {"provider_model_name": "writer"},
            "invalid_ai_field",
            'ai_field_config.message is not {"mode": "prompt"',
        ),
        (
            {"ai_field_config": {"message": _prompt("greet Ana")}},
            "no_provider_model",
            "message is an AI field, and no provider model configured",
        ),
    ]
    for index, (config, code, message) in enumerate(cases):
        flow = chain(node("start", "start"), node("say", "send_text", message=AI, **config))
        chat = await Chat.open(engine, flow, project_id=await _project(engine, url, f"p{index}"))
        await retry_until_settled(engine, clock)
        execution = await chat.execution()
        assert await chat.texts() == []
        assert execution["status"] == "failed", execution
        assert execution["error_details"]["code"] == code
        assert message in execution["error_details"]["message"]
