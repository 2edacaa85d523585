"""The fake LLM over real HTTP: both APIs, streaming and not, every kind of rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from convoflow.cli.app import app
from convoflow.fakes.llm.rules import Rule, Script
from convoflow.fakes.llm.server import FakeLLM

RULES_YAML = """
rules:
  - contains: refund
    reply: billing
  - regex: "^(hi|hello)\\\\b"
    tool_call: {name: save_variable, arguments: {name: greeted, value: true}}
  - contains: flaky
    status: 429
    retry_after: 0
    times: 1
  - contains: flaky
    reply: recovered
  - reply: default answer
"""


def _openai(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


def _anthropic(text: str, **extra: Any) -> dict[str, Any]:
    content = [{"type": "text", "text": text}]
    return {
        "model": "m",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


def _events(response: httpx.Response) -> list[tuple[str | None, Any]]:
    events, name = [], None
    for line in response.text.splitlines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
            events.append((name, data if data == "[DONE]" else json.loads(data)))
            name = None
    return events


@pytest.fixture
def scripted(llm: tuple[FakeLLM, str]) -> tuple[FakeLLM, str]:
    llm[0].script.replace(Script.from_data(__import__("yaml").safe_load(RULES_YAML)).rules)
    return llm


async def test_openai_reply_tool_call_and_default(scripted: tuple[FakeLLM, str]) -> None:
    fake, url = scripted
    async with httpx.AsyncClient(base_url=url) as http:
        reply = (await http.post("/v1/chat/completions", json=_openai("I want a REFUND"))).json()
        tool = (await http.post("/v1/chat/completions", json=_openai("hello there"))).json()
        other = (await http.post("/v1/chat/completions", json=_openai("what?"))).json()
    assert reply["choices"][0]["message"]["content"] == "billing"
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["usage"]["prompt_tokens"] == 4 and reply["usage"]["completion_tokens"] == 1
    call = tool["choices"][0]["message"]["tool_calls"][0]
    assert tool["choices"][0]["finish_reason"] == "tool_calls"
    assert call["function"]["name"] == "save_variable"
    assert json.loads(call["function"]["arguments"]) == {"name": "greeted", "value": True}
    assert other["choices"][0]["message"]["content"] == "default answer"
    assert [r["api"] for r in fake.requests] == ["openai"] * 3


async def test_failure_once_then_answer(scripted: tuple[FakeLLM, str]) -> None:
    _, url = scripted
    async with httpx.AsyncClient(base_url=url) as http:
        first = await http.post("/v1/messages", json=_anthropic("flaky"))
        second = await http.post("/v1/messages", json=_anthropic("flaky"))
    assert first.status_code == 429 and first.headers["retry-after"] == "0.0"
    assert first.json()["error"]["type"] == "rate_limit_error"
    assert second.json()["content"] == [{"type": "text", "text": "recovered"}]


async def test_anthropic_tool_use(scripted: tuple[FakeLLM, str]) -> None:
    _, url = scripted
    async with httpx.AsyncClient(base_url=url) as http:
        answer = (await http.post("/v1/messages", json=_anthropic("hi"))).json()
    assert answer["stop_reason"] == "tool_use"
    block = answer["content"][0]
    assert block["type"] == "tool_use" and block["input"] == {"name": "greeted", "value": True}


async def test_openai_streaming(scripted: tuple[FakeLLM, str]) -> None:
    _, url = scripted
    async with httpx.AsyncClient(base_url=url) as http:
        text = await http.post("/v1/chat/completions", json=_openai("what?", stream=True))
        tool = await http.post("/v1/chat/completions", json=_openai("hello", stream=True))
    assert text.headers["content-type"].startswith("text/event-stream")
    events = [data for _, data in _events(text)]
    assert events[-1] == "[DONE]"
    pieces = [e["choices"][0]["delta"].get("content", "") for e in events[:-1] if e["choices"]]
    assert "".join(pieces) == "default answer"
    assert events[-2]["usage"]["completion_tokens"] == 2
    chunks = [d for _, d in _events(tool) if d != "[DONE]" and d["choices"]]
    arguments = "".join(
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for c in chunks
        if "tool_calls" in c["choices"][0]["delta"]
    )
    assert json.loads(arguments) == {"name": "greeted", "value": True}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_anthropic_streaming(scripted: tuple[FakeLLM, str]) -> None:
    _, url = scripted
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post("/v1/messages", json=_anthropic("refund please", stream=True))
    events = _events(response)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "billing"
    assert next(d for n, d in events if n == "message_delta")["delta"]["stop_reason"] == "end_turn"


async def test_delay_rule_and_bad_body(llm: tuple[FakeLLM, str]) -> None:
    fake, url = llm
    fake.script.replace([Rule(contains="slow", delay=0.5, reply="late")])
    async with httpx.AsyncClient(base_url=url) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v1/chat/completions", json=_openai("slow"), timeout=0.1)
        bad = await http.post("/v1/chat/completions", content=b"nope")
        rules = await http.put("/_fake/rules", json={"rules": [{"reply": "x", "status": 500}]})
    assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]
    assert rules.status_code == 400  # one answer per rule


def test_script_file_and_cli_refusal(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_YAML)
    script = Script.from_file(path)
    assert script.answer("hello", "m").tool_call is not None
    assert script.answer("nothing matches", "m").reply == "default answer"
    path.write_text("rules:\n  - regex: '('\n")
    result = CliRunner().invoke(app, ["fake-llm", "--script", str(path)])
    assert result.exit_code == 2 and "does not compile" in result.output
