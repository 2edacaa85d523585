"""The LLM clients over real HTTP to the fake LLM, through the egress module: both wire
formats, tool calling both ways, retries with backoff, timeouts, the SSRF guard."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from convoflow.engine.egress import Egress
from convoflow.engine.llm import anthropic
from convoflow.engine.llm.client import LLMClient
from convoflow.engine.llm.model import (
    LLMRequest,
    LLMResult,
    Message,
    Provider,
    ToolCall,
    ToolSpec,
)
from convoflow.fakes.llm.rules import Rule
from convoflow.fakes.llm.rules import ToolCall as ScriptedCall
from convoflow.fakes.llm.server import FakeLLM

KINDS = ["openai", "anthropic"]


@pytest.fixture
async def client() -> AsyncIterator[tuple[LLMClient, list[float]]]:
    """The client, and the waits it asked for between attempts (see `_call`)."""
    egress = Egress(allow_private_network=True)
    yield LLMClient(egress, backoff_seconds=0.5), []
    await egress.close()


async def _call(
    client: tuple[LLMClient, list[float]], provider: Provider, request: LLMRequest
) -> LLMResult:
    """Attempts until a final one, as the engine's action job does across its runs (the
    waits it would reschedule by are recorded instead of slept)."""
    for attempt in itertools.count(1):
        result, retry_in = await client[0].attempt(
            provider, request, project_id=None, attempt=attempt
        )
        if retry_in is None:
            return result
        client[1].append(retry_in)
    raise AssertionError("unreachable")


def _provider(kind: str, url: str) -> Provider:
    base = f"{url}/v1" if kind == "openai" else url
    return Provider(kind=kind, base_url=base, model="fake-model", api_key="sk-test-123")


def _ask(text: str, **extra: object) -> LLMRequest:
    return LLMRequest(messages=(Message("user", text),), **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
async def test_text_answer_usage_and_request(
    kind: str, llm: tuple[FakeLLM, str], client: tuple[LLMClient, list[float]]
) -> None:
    fake, url = llm
    fake.script.replace([Rule(contains="refund", reply="billing please")])
    request = _ask("I want a refund", system="Classify.", temperature=0.2, max_tokens=7)
    result = await _call(client, _provider(kind, url), request)
    assert result.ok and result.text == "billing please" and result.attempts == 1
    assert result.input_tokens == 5 and result.output_tokens == 2
    assert result.latency_ms is not None and result.stop_reason in ("stop", "end_turn")
    sent = fake.requests[-1]
    assert sent["api"] == kind and sent["body"]["temperature"] == 0.2
    assert sent["body"]["max_tokens"] == 7
    if kind == "openai":
        assert sent["headers"]["authorization"] == "Bearer sk-test-123"
        assert sent["body"]["messages"][0] == {"role": "system", "content": "Classify."}
    else:
        assert sent["headers"]["x-api-key"] == "sk-test-123"
        assert sent["body"]["system"] == "Classify."


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_calling_round_trip(
    kind: str, llm: tuple[FakeLLM, str], client: tuple[LLMClient, list[float]]
) -> None:
    fake, url = llm
    call = ScriptedCall(name="get_weather", arguments={"city": "Lima"})
    fake.script.replace([Rule(contains="weather", tool_call=call), Rule(reply="It is sunny")])
    tool = ToolSpec("get_weather", "Weather of a city", {"type": "object", "properties": {}})
    first = await _call(client, _provider(kind, url), _ask("weather in Lima?", tools=(tool,)))
    assert first.ok and first.tool_calls[0].name == "get_weather"
    assert first.tool_calls[0].arguments == {"city": "Lima"}
    made = first.tool_calls[0]
    history = (
        Message("user", "weather in Lima?"),
        Message("assistant", "", tool_calls=(ToolCall(made.id, made.name, made.arguments),)),
        Message("tool", "sunny, 24C", tool_call_id=made.id),
    )
    second = await _call(client, _provider(kind, url), LLMRequest(messages=history, tools=(tool,)))
    assert second.text == "It is sunny"
    body = fake.requests[-1]["body"]
    if kind == "openai":
        assert body["tools"][0]["function"]["name"] == "get_weather"
        assert body["messages"][1]["tool_calls"][0]["id"] == made.id
        assert body["messages"][2] == {
            "role": "tool",
            "tool_call_id": made.id,
            "content": "sunny, 24C",
        }
    else:
        assert body["tools"][0]["input_schema"] == {"type": "object", "properties": {}}
        assert body["messages"][1]["content"][0]["type"] == "tool_use"
        assert body["messages"][2]["content"][0]["tool_use_id"] == made.id


@pytest.mark.parametrize("kind", KINDS)
async def test_retries_429_and_500_with_backoff(
    kind: str, llm: tuple[FakeLLM, str], client: tuple[LLMClient, list[float]]
) -> None:
    fake, url = llm
    fake.script.replace(
        [Rule(status=429, times=1), Rule(status=500, times=1), Rule(reply="finally")]
    )
    result = await _call(client, _provider(kind, url), _ask("hi"))
    assert result.ok and result.text == "finally" and result.attempts == 3
    assert client[1] == [0.5, 1.0]  # exponential backoff between the three attempts


GIVE_UPS = [("openai", 500, 3), ("anthropic", 400, 1)]


@pytest.mark.parametrize(("kind", "status", "attempts"), GIVE_UPS)
async def test_gives_up_with_the_reason(
    kind: str,
    status: int,
    attempts: int,
    llm: tuple[FakeLLM, str],
    client: tuple[LLMClient, list[float]],
) -> None:
    """A 5xx is retried up to max_attempts; a 400 (our request is wrong) is not."""
    fake, url = llm
    fake.script.replace([Rule(status=status)])
    result = await _call(client, _provider(kind, url), _ask("hi"))
    assert not result.ok and result.attempts == attempts and result.status == status
    assert f"HTTP {status}" in (result.error or "") and "scripted failure" in (result.error or "")


async def test_timeout_is_retried_then_reported(
    llm: tuple[FakeLLM, str], client: tuple[LLMClient, list[float]]
) -> None:
    fake, url = llm
    fake.script.replace([Rule(delay=0.3, reply="late")])
    client[0].max_attempts = 2
    result = await _call(client, _provider("openai", url), _ask("hi", timeout_seconds=0.05))
    assert not result.ok and result.attempts == 2 and "Timeout" in (result.error or "")


async def test_the_ssrf_guard_applies(llm: tuple[FakeLLM, str]) -> None:
    _, url = llm
    egress = Egress(allow_private_network=False)
    try:
        result = await _call((LLMClient(egress), []), _provider("openai", url), _ask("hi"))
    finally:
        await egress.close()
    assert not result.ok and result.attempts == 1 and "SSRF" in (result.error or "")


async def test_malformed_answer(
    client: tuple[LLMClient, list[float]], llm: tuple[FakeLLM, str]
) -> None:
    _, url = llm
    # An Anthropic client sent to the OpenAI endpoint: 2xx JSON, not a Messages answer.
    base = f"{url}/v1/chat/completions#"  # the client's path lands in the fragment
    provider = Provider(kind="anthropic", base_url=base, model="m")
    result = await _call(client, provider, _ask("hi"))
    assert not result.ok and "malformed" in (result.error or "")


def test_anthropic_gets_one_turns_tool_results_in_one_user_message() -> None:
    calls = (ToolCall("t1", "a", {}), ToolCall("t2", "b", {}))
    request = LLMRequest(
        messages=(
            Message("user", "go"),
            Message("assistant", "", tool_calls=calls),
            Message("tool", "one", tool_call_id="t1"),
            Message("tool", "two", tool_call_id="t2"),
            Message("user", "next"),
        )
    )
    sent = anthropic.body("claude", request)["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0] == {"role": "user", "content": "go"}
    results, text = sent[2]["content"][:2], sent[2]["content"][2]
    assert [b["tool_use_id"] for b in results] == ["t1", "t2"]
    assert text == {"type": "text", "text": "next"}
