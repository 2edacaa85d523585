"""MCP servers of agent nodes (`flow_agent_mcp_servers`) as a journaled action (kind `mcp`):
listing a node's servers' tools (`op: list`) and calling one tool (`op: call`), made by
the worker outside any transaction with the official SDK's streamable HTTP client, over
an httpx2 client the egress module builds (SSRF guard on every request).

Nothing here raises for what a server or the network does: the result says what
happened in words the model can read (`ok`, `content` or `error`). Neither operation is
retried by the job: a tool call may have side effects and MCP has no idempotency key
(the `Idempotency-Key` header is sent, for servers that honour it), and a failed listing
is tried again on the agent's next round. The headers (often a bearer token) are sealed
with the database's cipher in the journal and opened only here.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx2

from convoflow.engine.egress import Egress, EgressRefused, EgressUnresolved, library_error
from convoflow.engine.sealed import open_headers as _open_headers
from convoflow.engine.sealed import open_url as _open_url
from convoflow.engine.sealed import reseal_request as reseal_request
from convoflow.engine.sealed import seal_headers as seal_headers
from convoflow.engine.sealed import shown_url as _shown_url
from convoflow.store.cipher import SecretCipher, SecretKeyError

if TYPE_CHECKING:
    # The SDK is imported when an MCP action runs, not with the engine: importing it
    # builds the pydantic models of every protocol version (~0.5 s of CPU, 1.4 s at
    # load 9), which every process start (CLI, worker, server) would otherwise pay.
    from mcp import Client
    from mcp.types import CallToolResult, Tool

KIND = "mcp"
DEFAULT_TIMEOUT_SECONDS = 20.0
MAX_TOOLS_PER_SERVER = 64  # more would crowd the model's context (and providers' limits)
MAX_PAGES = 5
MAX_CONTENT_CHARS = 8_000
# A server's listing goes into every model request of the round: a description or an
# input schema beyond these is cut (the schema replaced by a bare object).
MAX_DESCRIPTION_CHARS = 1_000
MAX_SCHEMA_CHARS = 16_000
CLIENT_NAME = "convoflow"


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside the SDK's (nested) task-group exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def describe_error(
    server: str, exc: BaseException, timeout: float, *, shown_url: str | None = None
) -> str:
    """What went wrong, for the model and the events (no header: it may hold secrets).
    With `shown_url` (the url's template: the url holds a project secret) no library's
    words are quoted: httpx2's status error, for one, quotes the normalised url."""
    from mcp.shared.exceptions import MCPError

    leaf = _leaf(exc)
    if isinstance(leaf, EgressRefused) and not isinstance(leaf, EgressUnresolved):
        return f"MCP server {server!r} refused by the SSRF guard: {leaf}"
    if isinstance(leaf, TimeoutError | httpx2.TimeoutException):
        return f"MCP server {server!r} did not answer within {timeout:g} s"
    if isinstance(leaf, httpx2.TransportError | EgressUnresolved):
        return f"cannot reach MCP server {server!r}: {library_error(leaf, shown=shown_url)}"
    if isinstance(leaf, MCPError):
        return f"MCP server {server!r} answered an error: {leaf}"
    if isinstance(leaf, SecretKeyError):
        return f"MCP server {server!r}: {leaf}"
    if shown_url is not None:
        return f"MCP server {server!r} failed: {library_error(leaf, shown=shown_url)}"[:500]
    text = str(leaf) or type(leaf).__name__
    return f"MCP server {server!r} failed: {type(leaf).__name__}: {text}"[:500]


async def _session(
    egress: Egress,
    request: dict[str, Any],
    headers: dict[str, str],
    use: Callable[[Client], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Open a session with the server, `use` it, close it; every failure is a result."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.types import Implementation

    server = str(request.get("server"))
    timeout = float(request.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
    started = time.perf_counter()
    result: dict[str, Any] | None = None
    shown = request.get("shown_url")
    try:
        url = str(request["url"])
        http = await egress.mcp_http_client(
            url,
            project_id=request.get("project_id"),
            headers=headers,
            timeout_seconds=timeout,
            shown_url=shown,
        )
        async with asyncio.timeout(timeout), http:
            transport = streamable_http_client(url, http_client=http)
            info = Implementation(name=CLIENT_NAME, version="1")
            async with Client(transport, cache=None, client_info=info) as client:
                result = await use(client)
    except Exception as exc:
        # An error while the session closes (the DELETE, the timeout meanwhile) does not
        # undo a result already had: the tool's effect happened, the model must know it.
        if result is None:
            result = {"ok": False, "error": describe_error(server, exc, timeout, shown_url=shown)}
    return {**result, "duration_ms": int((time.perf_counter() - started) * 1000)}


async def _list_tools(client: Client) -> dict[str, Any]:
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None or len(tools) >= MAX_TOOLS_PER_SERVER:
            break
    return {"ok": True, "tools": [_tool_entry(t) for t in tools[:MAX_TOOLS_PER_SERVER]]}


def _tool_entry(tool: Tool) -> dict[str, Any]:
    schema: dict[str, Any] = tool.input_schema
    if len(json.dumps(schema, default=str)) > MAX_SCHEMA_CHARS:
        schema = {"type": "object"}
    description = (tool.description or "")[:MAX_DESCRIPTION_CHARS]
    return {"name": tool.name, "description": description, "input_schema": schema}


def result_text(result: CallToolResult) -> str:
    """What the model reads of a tool result: its text blocks, the structured content when
    there is no text, a note for each binary block (images, audio, resources)."""
    parts: list[str] = []
    for block in result.content:
        text = getattr(block, "text", None)
        if isinstance(text, str):
            parts.append(text)
        else:
            mime = getattr(block, "mime_type", None) or ""
            parts.append(f"[{block.type} {mime} omitted]".replace("  ", " "))
    if not any(p.strip() for p in parts) and result.structured_content is not None:
        parts = [json.dumps(result.structured_content, ensure_ascii=False, default=str)]
    return "\n".join(parts)[:MAX_CONTENT_CHARS]


async def perform_mcp(
    egress: Egress, cipher: SecretCipher | None, request: dict[str, Any], *, max_seconds: float
) -> dict[str, Any]:
    """One journaled MCP action: `op` list (every server of the node, concurrently) or
    call (one tool). `max_seconds` caps each operation below the job's lease."""
    timeout = min(float(request.get("timeout") or DEFAULT_TIMEOUT_SECONDS), max_seconds)
    if request.get("op") == "list":
        servers = [
            {**s, "project_id": request.get("project_id"), "timeout": timeout}
            for s in request.get("servers") or []
        ]
        listed = await asyncio.gather(*(_list_one(egress, cipher, s) for s in servers))
        return {"ok": True, "servers": listed}
    return await _call_one(egress, cipher, {**request, "timeout": timeout})


async def _list_one(
    egress: Egress, cipher: SecretCipher | None, server: dict[str, Any]
) -> dict[str, Any]:
    try:
        headers = _open_headers(cipher, server.get("headers_sealed"))
        opened = {**server, "url": _open_url(cipher, server), "shown_url": _shown_url(server)}
    except SecretKeyError as exc:
        return {
            "server": server["server"],
            "ok": False,
            "error": describe_error(str(server["server"]), exc, 0),
        }
    return {"server": server["server"], **await _session(egress, opened, headers, _list_tools)}


async def _call_one(
    egress: Egress, cipher: SecretCipher | None, request: dict[str, Any]
) -> dict[str, Any]:
    server = str(request.get("server"))
    try:
        headers = _open_headers(cipher, request.get("headers_sealed"))
        opened = {**request, "url": _open_url(cipher, request), "shown_url": _shown_url(request)}
    except SecretKeyError as exc:
        return {"ok": False, "error": describe_error(server, exc, 0)}
    if request.get("idempotency_key"):
        headers["Idempotency-Key"] = str(request["idempotency_key"])
    tool = str(request.get("tool"))
    arguments = request.get("arguments") if isinstance(request.get("arguments"), dict) else {}

    async def call(client: Client) -> dict[str, Any]:
        # Listed first, as the SDK asks: the tool's `x-mcp-header` arguments become request
        # headers (protocol 2026-07-28), and its output schema is known, so the SDK's check
        # of the result needs no request after the call (whose effect has happened).
        await client.list_tools()
        result = await client.call_tool(tool, arguments)
        text = result_text(result)
        if result.is_error:
            return {"ok": False, "error": f"the tool {tool!r} failed: {text}", "tool_error": True}
        return {"ok": True, "content": text}

    return await _session(egress, opened, headers, call)
