"""OpenAI Chat Completions (and the servers that speak it: vLLM, Ollama, LiteLLM, ...):
the request body, the headers and the answer, as plain JSON."""

from __future__ import annotations

import json
from typing import Any

from convoflow.engine.llm.model import LLMRequest, LLMResult, MalformedResponse, Message, ToolCall


def url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/chat/completions"


def headers(api_key: str | None, _request: LLMRequest | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    return out


def body(model: str, request: LLMRequest) -> dict[str, Any]:
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [_message(m) for m in request.messages]
    out: dict[str, Any] = {"model": model, "messages": messages}
    if request.reasoning_effort:
        # Reasoning models refuse `max_tokens` and a temperature other than their own.
        out["reasoning_effort"] = request.reasoning_effort
        out["max_completion_tokens"] = request.max_tokens
    else:
        out["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            out["temperature"] = request.temperature
    if request.tools:
        out["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
    return out


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {"_raw": raw}  # the model wrote invalid JSON: keep it for the caller to see
    return parsed if isinstance(parsed, dict) else {"_raw": parsed}


def result(data: Any) -> LLMResult:
    try:
        choice = data["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise MalformedResponse("no choices[0].message in the answer") from None
    calls = tuple(
        ToolCall(
            str(c.get("id", "")),
            str(c["function"]["name"]),
            _arguments(c["function"].get("arguments")),
        )
        for c in message.get("tool_calls") or []
    )
    usage = data.get("usage") or {}
    return LLMResult(
        ok=True,
        text=message.get("content") or "",
        tool_calls=calls,
        stop_reason=choice.get("finish_reason"),
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=usage.get("completion_tokens"),
    )
