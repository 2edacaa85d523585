"""A fake LLM provider: develop, test and demo AI flows offline.

- `POST /v1/chat/completions` answers like OpenAI's Chat Completions, `POST /v1/messages`
  like Anthropic's Messages; both non-streaming and streaming (`"stream": true`, SSE in
  each provider's own event shapes), with text or one tool call, and token usage.
- What it answers comes from a `Script` (rules.py): the first rule matching the last user
  message gives a reply, a tool call, an HTTP error, or a delay first.
- Every request is recorded (`GET /_fake/requests`, `DELETE /_fake/requests`); the rules
  can be replaced at run time (`PUT /_fake/rules` with the script's YAML/JSON shape).
State lives in memory. Use `FakeLLM().app` in-process or `convoflow fake-llm`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from convoflow.fakes.llm.rules import Rule, Script

Events = list[tuple[str | None, dict[str, Any]]]  # (SSE event name, data)


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [_block_text(p) for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if p)
    return ""


def _block_text(block: dict[str, Any]) -> str:
    if block.get("type") == "tool_result":  # Anthropic's answer to a tool call
        return _text_of(block.get("content"))
    text = block.get("text", "")
    return text if isinstance(text, str) else ""


def last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        # A tool's result (OpenAI's `tool` role) is what the model answers next, too.
        if isinstance(message, dict) and message.get("role") in ("user", "tool"):
            return _text_of(message.get("content"))
    return ""


def _tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


def _prompt_tokens(body: dict[str, Any]) -> int:
    texts = [_text_of(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)]
    return sum(_tokens(t) for t in texts) + _tokens(_text_of(body.get("system")))


def _chunks(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class FakeLLM:
    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.app = Starlette(routes=self._routes())

    def _routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", self._openai, methods=["POST"]),
            Route("/v1/messages", self._anthropic, methods=["POST"]),
            Route("/_fake/requests", self._requests, methods=["GET", "DELETE"]),
            Route("/_fake/rules", self._rules, methods=["PUT"]),
        ]

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    async def _read(self, request: Request, api: str) -> tuple[dict[str, Any], Rule] | Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(api, 400, "invalid_request_error", "body needs a `messages` list")
        self.requests.append({"api": api, "body": body, "headers": dict(request.headers)})
        rule = self.script.answer(last_user_text(body["messages"]), str(body.get("model", "")))
        if rule.delay:
            await asyncio.sleep(rule.delay)
        if rule.status is not None:
            kind = "rate_limit_error" if rule.status == 429 else "api_error"
            response = _error(api, rule.status, kind, f"scripted failure {rule.status}")
            if rule.retry_after is not None:
                response.headers["retry-after"] = str(rule.retry_after)
            return response
        return body, rule

    # -- OpenAI -------------------------------------------------------------------------

    async def _openai(self, request: Request) -> Response:
        read = await self._read(request, "openai")
        if isinstance(read, Response):
            return read
        body, rule = read
        model, reply = str(body.get("model", "fake")), rule.reply or ""
        usage = {"prompt_tokens": _prompt_tokens(body), "completion_tokens": _tokens(reply)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        message: dict[str, Any] = {"role": "assistant", "content": None}
        tool_calls: list[dict[str, Any]] = []
        if rule.tool_call is not None:
            arguments = json.dumps(rule.tool_call.arguments)
            function = {"name": rule.tool_call.name, "arguments": arguments}
            tool_calls = [{"id": self._id("call_"), "type": "function", "function": function}]
            message["tool_calls"] = tool_calls
        else:
            message["content"] = reply
        finish = "tool_calls" if tool_calls else "stop"
        head = {"id": self._id("chatcmpl-"), "created": int(time.time()), "model": model}
        if not body.get("stream"):
            choice = {"index": 0, "message": message, "finish_reason": finish}
            return JSONResponse(
                {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        return _sse(_openai_events(head, message, finish, usage), done_marker=True)

    # -- Anthropic ----------------------------------------------------------------------

    async def _anthropic(self, request: Request) -> Response:
        read = await self._read(request, "anthropic")
        if isinstance(read, Response):
            return read
        body, rule = read
        reply = rule.reply or ""
        block: dict[str, Any]
        if rule.tool_call is not None:
            block = {
                "type": "tool_use",
                "id": self._id("toolu_"),
                "name": rule.tool_call.name,
                "input": rule.tool_call.arguments,
            }
        else:
            block = {"type": "text", "text": reply}
        stop = "tool_use" if rule.tool_call is not None else "end_turn"
        usage = {"input_tokens": _prompt_tokens(body), "output_tokens": _tokens(reply)}
        message = {
            "id": self._id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": str(body.get("model", "fake")),
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            return JSONResponse(message)
        return _sse(_anthropic_events(message), done_marker=False)

    # -- inspection ---------------------------------------------------------------------

    async def _requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.requests.clear()
        return JSONResponse({"data": self.requests})

    async def _rules(self, request: Request) -> Response:
        try:
            script = Script.from_data(json.loads(await request.body()))
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        self.script.replace(script.rules)
        return JSONResponse({"data": {"rules": len(script.rules)}})


def _openai_events(
    head: dict[str, Any], message: dict[str, Any], finish: str, usage: dict[str, int]
) -> Events:
    def chunk(delta: dict[str, Any], reason: str | None = None) -> tuple[None, dict[str, Any]]:
        choice = {"index": 0, "delta": delta, "finish_reason": reason}
        return None, {**head, "object": "chat.completion.chunk", "choices": [choice]}

    events: Events = [chunk({"role": "assistant", "content": ""})]
    for call in message.get("tool_calls") or []:
        start = {
            "index": 0,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        events.append(chunk({"tool_calls": [start]}))
        for piece in _chunks(call["function"]["arguments"]):
            events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    if message.get("content"):
        events.extend(chunk({"content": piece}) for piece in _chunks(message["content"]))
    events.append(chunk({}, finish))
    events.append(
        (None, {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    )
    return events


def _anthropic_events(message: dict[str, Any]) -> Events:
    block = message["content"][0]
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1},
    }
    events: Events = [("message_start", {"type": "message_start", "message": start})]
    if block["type"] == "text":
        empty: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in _chunks(block["text"])]
    else:
        empty = {**block, "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": p}
            for p in _chunks(json.dumps(block["input"]))
        ]
    events.append(
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": empty})
    )
    for delta in deltas:
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": stop,
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _sse(events: Events, *, done_marker: bool) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        for name, data in events:
            prefix = f"event: {name}\n" if name else ""
            yield f"{prefix}data: {json.dumps(data)}\n\n".encode()
        if done_marker:
            yield b"data: [DONE]\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream")


def _error(api: str, status: int, kind: str, message: str) -> JSONResponse:
    if api == "anthropic":
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": kind, "code": status}}
    return JSONResponse(body, status_code=status)
