"""Anthropic Messages: the request body, the headers and the answer, as plain JSON."""

from __future__ import annotations

from typing import Any

from convoflow.engine.llm.model import LLMRequest, LLMResult, MalformedResponse, Message, ToolCall

API_VERSION = "2023-06-01"


def url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"


# The one-hour prompt cache ttl was a beta; the header is accepted since it became GA.
EXTENDED_CACHE_TTL_BETA = "extended-cache-ttl-2025-04-11"


def headers(api_key: str | None, request: LLMRequest | None = None) -> dict[str, str]:
    out = {"anthropic-version": API_VERSION}
    if api_key:
        out["x-api-key"] = api_key
    if request is not None and request.cache_ttl == "1h":
        out["anthropic-beta"] = EXTENDED_CACHE_TTL_BETA
    return out


def _cached(messages: list[dict[str, Any]], control: dict[str, str]) -> list[dict[str, Any]]:
    """The last message's last block marked as a cache breakpoint: the next turn of an
    agent reads the whole conversation so far from the cache."""
    if not messages:
        return messages
    last = messages[-1]
    blocks = [dict(block) for block in _blocks(last["content"])]
    blocks[-1] = {**blocks[-1], "cache_control": control}
    return [*messages[:-1], {**last, "content": blocks}]


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        block = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id,
            "content": message.content,
        }
        return {"role": "user", "content": [block]}
    if not message.tool_calls:
        return {"role": message.role, "content": message.content}
    blocks: list[dict[str, Any]] = (
        [{"type": "text", "text": message.content}] if message.content else []
    )
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
        for c in message.tool_calls
    ]
    return {"role": message.role, "content": blocks}


def _blocks(content: Any) -> list[dict[str, Any]]:
    return content if isinstance(content, list) else [{"type": "text", "text": content}]


def _merged(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive user messages as one (the results of one turn's tool calls, then what
    the user wrote): Anthropic wants every tool_use answered in the next message, and
    the roles to alternate."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if out and message["role"] == out[-1]["role"] == "user":
            out[-1] = {
                "role": "user",
                "content": _blocks(out[-1]["content"]) + _blocks(message["content"]),
            }
        else:
            out.append(message)
    return out


def body(model: str, request: LLMRequest) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": model,
        "messages": _merged([_message(m) for m in request.messages]),
        "max_tokens": request.max_tokens,
    }
    control = {"type": "ephemeral", "ttl": request.cache_ttl} if request.cache_ttl else None
    if request.system:
        system_block = {"type": "text", "text": request.system}
        out["system"] = [{**system_block, "cache_control": control}] if control else request.system
    if control:
        out["messages"] = _cached(out["messages"], control)
    if request.temperature is not None:
        out["temperature"] = request.temperature
    if request.tools:
        out["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in request.tools
        ]
    return out


def result(data: Any) -> LLMResult:
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise MalformedResponse("no content list in the answer")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in data["content"]:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            arguments = block.get("input")
            calls.append(
                ToolCall(
                    str(block.get("id", "")),
                    str(block.get("name", "")),
                    arguments if isinstance(arguments, dict) else {},
                )
            )
    usage = data.get("usage") or {}
    return LLMResult(
        ok=True,
        text="".join(texts),
        tool_calls=tuple(calls),
        stop_reason=data.get("stop_reason"),
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
    )
