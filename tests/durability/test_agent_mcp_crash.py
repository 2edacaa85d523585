"""test_agent_crash.py's kill -9 test with an MCP tool instead of the webhook tool: the
worker subprocess is SIGKILLed at random while agent conversations call `lookup` on an
MCP server (the official SDK's MCPServer, streamable HTTP, in this process). Afterwards
every conversation has exactly its transcript, its five model turns and one user input,
and the MCP server saw one Idempotency-Key per conversation (a call repeated after a
crash reuses the journal's key)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer

from convoflow.config import Settings
from convoflow.fakes.llm.rules import Rule, Script
from convoflow.fakes.llm.server import FakeLLM
from convoflow.fakes.loopback import serve_app
from convoflow.process import build_process
from tests.durability.test_agent_crash import (
    _check_outcome,
    agent_flow,
    call,
    open_conversations,
    rules,
    run_while_killing,
)
from tests.durability.test_crash import WorkerProcess

CONVERSATIONS = 8


def mcp_app(keys: Counter[str]) -> Any:
    server = MCPServer("orders")

    @server.tool()
    def lookup(q: str) -> dict[str, Any]:
        """Look something up."""
        return {"echo": q}

    app = server.streamable_http_app(stateless_http=True, json_response=True)

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            key = dict(scope["headers"]).get(b"idempotency-key")
            if key:  # only a call's requests carry one (a listing's do not)
                keys[key.decode()] += 1
        await app(scope, receive, send)

    return recording


@pytest.mark.slow
async def test_sigkill_during_agent_loops_with_an_mcp_tool(db_url: str) -> None:
    engine = build_process(db_url, settings=Settings(worker_poll_seconds=0.05))
    worker = WorkerProcess(db_url)
    # An MCP operation's timeout is capped at 80% of the job lease (no other worker may
    # claim the job meanwhile); test_crash's 1 s lease would make that 0.8 s, which a
    # session (several requests) to this busy process can exceed on a loaded machine.
    worker.env["CONVOFLOW_JOB_LEASE_SECONDS"] = "4"
    script = [Rule(regex="^hi$", tool_call=call("mcp__orders__lookup", q="x")), *rules()[1:]]
    fake = FakeLLM(Script(script))
    keys: Counter[str] = Counter()
    try:
        async with serve_app(fake.app) as llm_url, serve_app(mcp_app(keys)) as mcp_url:
            server = {"name": "orders", "url": f"{mcp_url}/mcp"}
            flow = agent_flow(flow_agent_mcp_servers=[server])
            conversations = await open_conversations(engine, llm_url, flow, CONVERSATIONS)
            await run_while_killing(engine, conversations, worker)
        await _check_outcome(engine, conversations, keys)
        assert all(":tool:" in key for key in keys)
    finally:
        await worker.stop()
        await engine.close()
