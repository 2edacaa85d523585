"""The agent node's MCP servers (`flow_agent_mcp_servers`), as the step sees them: the
journaled listing of their tools, the names those tools are offered under, and the
journaled `mcp` action a call of one becomes (performed by engine/mcp.py).

Naming: a server's tool `t` is offered as `mcp__<server>__<t>` (characters other than
letters, digits, `_` and `-` become `_`), so it can never shadow a built-in tool; one
longer than 64 characters (OpenAI's limit), or equal to another tool's name, is cut and
given a short hash of the server and tool names. The listing is done when the agent
starts and again whenever the user writes; the model turns in between reuse it (it lives
in the conversation state, `cursor.agent.mcp`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from convoflow.engine.mcp import KIND, seal_headers
from convoflow.engine.sealed import seal_url
from convoflow.engine.step import StepRun
from convoflow.engine.steps._agent_tools import ToolAnswer
from convoflow.graph.nodes.agent import AgentMcpServer
from convoflow.store.cipher import SecretKeyError

PREFIX = "mcp__"
MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def servers(run: StepRun) -> list[AgentMcpServer]:
    return list(run.config.flow_agent_mcp_servers)


def _slug(text: str) -> str:
    return _UNSAFE.sub("_", text)


def tool_name(server: str, tool: str, taken: set[str]) -> str:
    name = f"{PREFIX}{_slug(server)}__{_slug(tool)}"
    if len(name) > MAX_NAME or name in taken:
        digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9]}_{digest}"
    return name


async def _target(run: StepRun, server: AgentMcpServer) -> dict[str, Any] | str:
    """The server's rendered url and sealed headers for the journal, or why not."""
    if not server.url:
        return f"MCP server {server.name!r} has no url"
    field = f"flow_agent_mcp_servers.{server.name}"
    url = await run.render(server.url, f"{field}.url")
    headers = await run.render_any(server.headers or {}, f"{field}.headers")
    cipher = run.advance.runtime.db.cipher
    try:
        sealed = seal_headers(cipher, {str(k): str(v) for k, v in dict(headers).items()})
        # A key in the url (`?key=${ENV:X}`) is sealed like a header, never journaled clear.
        url_fields = seal_url(cipher, server.url, url)
    except SecretKeyError as exc:
        return f"MCP server {server.name!r}: {exc}"
    return {"server": server.name, **url_fields, "headers_sealed": sealed}


async def list_request(run: StepRun) -> tuple[dict[str, Any], dict[str, str]]:
    """The journaled listing request, and the servers that cannot be asked (name → why)."""
    targets: list[dict[str, Any]] = []
    unavailable: dict[str, str] = {}
    for server in servers(run):
        target = await _target(run, server)
        if isinstance(target, str):
            unavailable[server.name] = target
        else:
            targets.append(target)
    request = {"op": "list", "servers": targets, "project_id": run.execution.project_id}
    return request, unavailable


def listed(
    run: StepRun, result: dict[str, Any], unavailable: dict[str, str], taken: set[str]
) -> dict[str, Any]:
    """The conversation state's `mcp` from a journaled listing: the tool specs offered,
    offered name → [server, tool], and the servers that could not be listed (→ why)."""
    specs: list[dict[str, Any]] = []
    names: dict[str, list[str]] = {}
    for name, why in unavailable.items():  # not asked: no url, headers not sealable
        run.emit("agent_mcp_tools_listed", {"server": name, "ok": False, "tools": 0, "error": why})
    unavailable = dict(unavailable)
    for server in result.get("servers") or []:
        name = str(server.get("server"))
        tools = server.get("tools") or []
        run.emit(
            "agent_mcp_tools_listed",
            {
                "server": name,
                "ok": bool(server.get("ok")),
                "tools": len(tools),
                "error": server.get("error"),
                "duration_ms": server.get("duration_ms"),
            },
        )
        if not server.get("ok"):
            unavailable[name] = str(server.get("error"))
            continue
        for tool in tools:
            offered = tool_name(name, str(tool["name"]), taken | set(names))
            names[offered] = [name, str(tool["name"])]
            schema = tool.get("input_schema")
            specs.append(
                {
                    "name": offered,
                    "description": tool.get("description")
                    or f"The {tool['name']} tool of the {name} MCP server.",
                    "parameters": schema if isinstance(schema, dict) else {"type": "object"},
                }
            )
    return {"specs": specs, "names": names, "unavailable": unavailable}


async def prepare_call(
    run: StepRun, state: dict[str, Any] | None, name: str, arguments: dict[str, Any], key: str
) -> tuple[str, dict[str, Any]] | ToolAnswer | None:
    """The `mcp` action a call of the offered tool `name` becomes (a ToolAnswer when it
    cannot be made); None when no listed MCP tool has that name."""
    found = (state or {}).get("names", {}).get(name)
    if found is None:
        return None
    server_name, tool = found
    server = next((s for s in servers(run) if s.name == server_name), None)
    target = await _target(run, server) if server is not None else "the MCP server is gone"
    if isinstance(target, str):
        return ToolAnswer(f"error: {target}", ok=False)
    request = {
        **target,
        "op": "call",
        "tool": tool,
        "arguments": arguments,
        "idempotency_key": key,
        "project_id": run.execution.project_id,
    }
    return KIND, request


def unavailable_answer(state: dict[str, Any] | None, name: str) -> ToolAnswer | None:
    """For a call of `mcp__<server>__...` whose server could not be listed this round (the
    model may remember its tools): why, without a request. None otherwise."""
    for server, why in ((state or {}).get("unavailable") or {}).items():
        if name.startswith(f"{PREFIX}{_slug(server)}__"):
            return ToolAnswer(f"error: {why}", ok=False)
    return None


def call_answer(result: dict[str, Any]) -> ToolAnswer:
    if result.get("ok"):
        return ToolAnswer(str(result.get("content") or ""))
    return ToolAnswer(f"error: {result.get('error')}", ok=False)
