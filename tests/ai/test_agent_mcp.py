"""The agent node's MCP servers (`flow_agent_mcp_servers`) over real HTTP, on SQLite and
PostgreSQL: an MCP server made with the official SDK (MCPServer, streamable HTTP, served
by uvicorn on a loopback port) offers `lookup_order`; the fake LLM calls it under its
namespaced name, the result reaches the model and the flow completes. A journaled result
is not asked for again; a tool's error, an unreachable server and a loopback server the
project may not reach (SSRF guard) each become a tool result the model reads."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import Tool
from starlette.applications import Starlette

from convoflow.clock import FakeClock
from convoflow.config import Settings
from convoflow.engine.egress import Egress
from convoflow.engine.llm.client import LLMClient
from convoflow.engine.mcp import MAX_DESCRIPTION_CHARS, _tool_entry, describe_error
from convoflow.engine.steps._agent_mcp import tool_name
from convoflow.fakes.llm.rules import Rule, ToolCall
from convoflow.fakes.llm.server import FakeLLM
from convoflow.fakes.loopback import serve_app
from convoflow.process import Process, build_process
from convoflow.services.ai import provider_models
from convoflow.services.common import Actor
from convoflow.store.schema import action_journal
from tests.ai.test_agent import START, _chat, _project, _run_job_again
from tests.support import Chat, chat_payloads, events, make_project, put_secret, table_rows

TOOL = "mcp__orders__lookup_order"
TOKEN = "mcp-token-0f9e8d"


def call(tool: str, **arguments: Any) -> ToolCall:
    return ToolCall(name=tool, arguments=arguments)


@dataclass
class Orders:
    """The MCP server's URL, the tool calls it ran and the headers of every request."""

    url: str
    calls: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)


@pytest.fixture
async def orders() -> AsyncIterator[Orders]:
    server = MCPServer("orders")
    state = Orders(url="")

    @server.tool()
    def lookup_order(order_id: str) -> dict[str, Any]:
        """Find an order by its id."""
        state.calls.append(order_id)
        if order_id == "bad":
            raise ToolError("no order with id 'bad'")
        return {"order_id": order_id, "status": "shipped"}

    app = server.streamable_http_app(stateless_http=True, json_response=True)

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            state.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
            state.queries.append(scope["query_string"].decode())
        await app(scope, receive, send)

    async with serve_app(recording) as base:
        state.url = f"{base}/mcp"
        yield state


def mcp_server(url: str | None, **extra: Any) -> dict[str, Any]:
    return {"name": "orders", "description": "The order service", "url": url, **extra}


ASK_THEN_SAVE = [
    Rule(contains=START, tool_call=call(TOOL, order_id="A1")),
    Rule(contains='"shipped"', tool_call=call("save_variable", name="name", value="A1")),
    Rule(contains="saved vars.name", tool_call=call("complete_task")),
]


async def test_mcp_tool_is_offered_called_once_and_its_result_reaches_the_model(
    engine: Process, llm: tuple[FakeLLM, str], orders: Orders, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK's, httpx2's and httpcore2's loggers included
    fake, url = llm
    fake.script.replace(ASK_THEN_SAVE)
    project_id = await _project(engine, url)
    await put_secret(engine, project_id, "MCP_TOKEN", TOKEN)
    headers = {"Authorization": "Bearer ${ENV:MCP_TOKEN}", "X-Customer": "{{vars.customer}}"}
    server = mcp_server(orders.url, headers=headers)
    chat = await _chat(engine, url, project_id=project_id, flow_agent_mcp_servers=[server])
    execution = await chat.execution()
    assert execution["status"] == "ended", execution.get("error_details")
    assert await chat.texts() == ["done:  for A1"]
    assert orders.calls == ["A1"]
    # The server got the rendered headers (the project secret, a variable) every time.
    assert {(h.get("authorization"), h.get("x-customer")) for h in orders.headers} == {
        (f"Bearer {TOKEN}", "Ana")
    }
    # Offered under its namespaced name, with the server's description and schema.
    offered = {t["function"]["name"]: t["function"] for t in fake.requests[0]["body"]["tools"]}
    assert offered[TOOL]["description"] == "Find an order by its id."
    assert offered[TOOL]["parameters"]["properties"]["order_id"]["type"] == "string"
    assert "complete_task" in offered
    tool_message = fake.requests[1]["body"]["messages"][-1]
    assert tool_message["role"] == "tool" and '"shipped"' in tool_message["content"]
    [listing] = await chat_payloads(engine, chat, "agent_mcp_tools_listed")
    assert (listing["server"], listing["ok"], listing["tools"]) == ("orders", True, 1)
    # The token is sealed in the action journal, never stored in clear.
    journal = await table_rows(engine, action_journal, execution_id=execution["id"])
    assert {row["kind"] for row in journal} == {"llm", "mcp"}
    assert TOKEN not in repr(journal)
    # The call's job runs again (a lost lease, a crash after the commit): its result is
    # journaled, so the MCP server is not called a second time.
    [call_key] = [row["idempotency_key"] for row in journal if ":tool:" in row["idempotency_key"]]
    await _run_job_again(engine, call_key)
    await engine.worker.drain()
    assert orders.calls == ["A1"]
    assert (await chat.execution())["status"] == "ended"
    # The call's session carried its journal key (for servers that deduplicate) and listed
    # the tool before calling it (x-mcp-header arguments, the SDK's output check).
    methods = [h.get("mcp-method") for h in orders.headers if h.get("idempotency-key") == call_key]
    assert "tools/call" in methods
    assert methods.index("tools/list") < methods.index("tools/call")
    assert caplog.records and TOKEN not in caplog.text


async def test_a_secret_in_the_url_is_sealed_in_the_journal(
    engine: Process, llm: tuple[FakeLLM, str], orders: Orders
) -> None:
    # A server keyed by its url (`?key=${ENV:X}`): the rendered url was journaled clear.
    fake, url = llm
    fake.script.replace(ASK_THEN_SAVE)
    project_id = await _project(engine, url)
    await put_secret(engine, project_id, "MCP_TOKEN", TOKEN)
    server = mcp_server(f"{orders.url}?key=${{ENV:MCP_TOKEN}}")
    chat = await _chat(engine, url, project_id=project_id, flow_agent_mcp_servers=[server])
    execution = await chat.execution()
    assert execution["status"] == "ended", execution.get("error_details")
    assert orders.calls == ["A1"]
    assert set(orders.queries) == {f"key={TOKEN}"}  # listing and call got the real url
    journal = await table_rows(engine, action_journal, execution_id=execution["id"])
    mcp = [row["request"] for row in journal if row["kind"] == "mcp"]
    assert len(mcp) == 2 and TOKEN not in repr(journal)
    [listed] = mcp[0]["servers"] if mcp[0]["op"] == "list" else mcp[1]["servers"]
    assert listed["url"] == server["url"] and listed["url_sealed"]


async def test_an_error_quoting_a_sealed_url_names_its_template(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    # The whole url a secret, and not one the SSRF guard accepts: its refusal quotes the
    # url, which reached the listing event and the model before.
    fake, url = llm
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call(TOOL, order_id="A1")),
            Rule(contains="must start with", tool_call=call("complete_task")),
        ]
    )
    project_id = await _project(engine, url)
    await put_secret(engine, project_id, "MCP_URL", f"ftp://mcp.example/{TOKEN}")
    server = mcp_server("${ENV:MCP_URL}")
    chat = await _chat(engine, url, project_id=project_id, flow_agent_mcp_servers=[server])
    execution = await chat.execution()
    assert execution["status"] == "ended", execution.get("error_details")
    [listing] = await chat_payloads(engine, chat, "agent_mcp_tools_listed")
    assert "url '${ENV:MCP_URL}' must start with http://" in listing["error"]
    assert "${ENV:MCP_URL}" in str(fake.requests[1]["body"]["messages"][-1]["content"])
    journal = await table_rows(engine, action_journal, execution_id=execution["id"])
    assert TOKEN not in repr(journal)
    assert TOKEN not in repr(await events(engine, execution["id"]))
    assert TOKEN not in repr(fake.requests)


async def test_tools_are_listed_again_when_the_user_writes(
    engine: Process, llm: tuple[FakeLLM, str], orders: Orders
) -> None:
    fake, url = llm
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call("enter_waiting")),
            Rule(contains="waiting", reply="Which order?"),
            Rule(contains="order A7", tool_call=call(TOOL, order_id="A7")),
            Rule(contains='"shipped"', tool_call=call("complete_task")),
        ]
    )
    chat = await _chat(engine, url, flow_agent_mcp_servers=[mcp_server(orders.url)])
    assert (await chat.execution())["waiting_reason"] == "agent"
    await chat.say("where is order A7?")
    assert (await chat.execution())["status"] == "ended"
    assert orders.calls == ["A7"]
    # Once on entering, once after the reply; not before every model turn.
    assert len(await chat_payloads(engine, chat, "agent_mcp_tools_listed")) == 2
    assert len(await chat_payloads(engine, chat, "agent_turn")) == 3


async def _tool_answer(
    engine: Process, llm: tuple[FakeLLM, str], server_url: str | None, order_id: str, seen: str
) -> tuple[Chat, str]:
    """The model calls the MCP tool, then completes once it has read `seen`: the flow
    ends (an error is a result, not a failure); returns what the model read."""
    fake, url = llm
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call(TOOL, order_id=order_id)),
            Rule(contains=seen, tool_call=call("complete_task")),
        ]
    )
    chat = await _chat(engine, url, flow_agent_mcp_servers=[mcp_server(server_url)])
    execution = await chat.execution()
    assert execution["status"] == "ended", execution.get("error_details")
    return chat, str(fake.requests[1]["body"]["messages"][-1]["content"])


async def test_a_tool_error_is_a_result_the_model_reads(
    engine: Process, llm: tuple[FakeLLM, str], orders: Orders
) -> None:
    chat, content = await _tool_answer(engine, llm, orders.url, "bad", "no order with id")
    assert content.startswith("error: the tool 'lookup_order' failed: ")
    assert content.endswith("no order with id 'bad'")
    called = await chat_payloads(engine, chat, "agent_tool_called")
    assert [(c["tool"], c["ok"]) for c in called] == [(TOOL, False)]


async def _closed_port_url() -> str:
    """A loopback port something listened on a moment ago: nothing does now."""
    async with serve_app(Starlette()) as base:
        pass
    return f"{base}/mcp"


async def test_an_unreachable_server_is_an_error_result_not_a_failed_execution(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    dead = await _closed_port_url()
    chat, content = await _tool_answer(engine, llm, dead, "A1", "cannot reach MCP server")
    [listing] = await chat_payloads(engine, chat, "agent_mcp_tools_listed")
    assert not listing["ok"] and "cannot reach MCP server 'orders'" in listing["error"]
    assert content.startswith("error: cannot reach MCP server 'orders': ConnectError")
    # Not offered while unreachable: the model only had the other tools.
    assert TOOL not in {t["function"]["name"] for t in llm[0].requests[0]["body"]["tools"]}


@pytest.fixture
async def guarded(db_url: str, clock: FakeClock) -> AsyncIterator[Process]:
    """A process whose projects may not reach private networks (the production default),
    with a model client of its own that may (the fake LLM listens on loopback)."""
    llm_egress = Egress(allow_private_network=True)
    settings = Settings(worker_poll_seconds=0.05, llm_backoff_seconds=0.01)
    built = build_process(
        db_url, clock=clock, settings=settings, pool_size=5, llm=LLMClient(llm_egress)
    )
    try:
        yield built
    finally:
        await built.close()
        await llm_egress.close()


async def test_a_loopback_server_is_refused_by_the_ssrf_guard(
    guarded: Process, llm: tuple[FakeLLM, str], orders: Orders
) -> None:
    _, content = await _tool_answer(guarded, llm, orders.url, "A1", "SSRF guard")
    assert orders.headers == []  # not one request reached the server
    assert "MCP server 'orders' refused by the SSRF guard" in content
    assert "allow_private_network" in content


async def test_the_project_setting_lets_its_agents_reach_a_private_server(
    guarded: Process, llm: tuple[FakeLLM, str], orders: Orders
) -> None:
    fake, url = llm
    fake.script.replace(ASK_THEN_SAVE)
    project_id = await make_project(guarded, allow_private_network=True)
    fields = provider_models.ModelFields(
        name="fake", provider="openai", base_url=f"{url}/v1", api_key="sk-fake", timeout_seconds=2
    )
    await provider_models.create(guarded, Actor(project_id=project_id), fields)
    chat = await _chat(
        guarded, url, project_id=project_id, flow_agent_mcp_servers=[mcp_server(orders.url)]
    )
    assert (await chat.execution())["status"] == "ended"
    assert orders.calls == ["A1"]


def test_tool_names_are_namespaced_safe_and_unique() -> None:
    assert tool_name("orders", "lookup_order", set()) == "mcp__orders__lookup_order"
    # Characters providers refuse in a tool name become `_`.
    assert tool_name("Order Service", "orders/get.v2", set()) == "mcp__Order_Service__orders_get_v2"
    # Too long for OpenAI's 64, or taken by another tool: cut, with a hash of the names.
    long = tool_name("orders", "x" * 80, set())
    assert len(long) == 64 and long.startswith("mcp__orders__xxx")
    assert long != tool_name("orders", "x" * 81, set())
    taken = tool_name("orders", "lookup_order", {"mcp__orders__lookup_order"})
    assert taken.startswith("mcp__orders__lookup_order_") and len(taken) == 34


def test_a_listed_tool_is_cut_to_size() -> None:
    """A server's listing goes into every model request of the round: an oversized
    description is cut, an oversized schema replaced by a bare object."""
    huge = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(2000)}}
    tool = Tool(name="t", description="d" * 5000, input_schema=huge)
    entry = _tool_entry(tool)
    assert len(entry["description"]) == MAX_DESCRIPTION_CHARS
    assert entry["input_schema"] == {"type": "object"}
    small = Tool(name="t", input_schema={"type": "object", "properties": {"a": {}}})
    assert _tool_entry(small) == {
        "name": "t",
        "description": "",
        "input_schema": {"type": "object", "properties": {"a": {}}},
    }


async def test_a_server_without_url_is_unavailable_and_its_tools_say_so(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    chat, content = await _tool_answer(engine, llm, None, "A1", "has no url")
    assert content == "error: MCP server 'orders' has no url"
    [listing] = await chat_payloads(engine, chat, "agent_mcp_tools_listed")
    assert (listing["ok"], listing["error"]) == (False, content.removeprefix("error: "))


def test_a_status_error_about_a_sealed_url_does_not_quote_it() -> None:
    # httpx2's status error (the SDK's GET stream) quotes the url as httpx2 normalises it.
    url = f"https://MCP.example/mcp?key={TOKEN}"
    request = httpx2.Request("GET", url)
    response = httpx2.Response(500, request=request)
    with pytest.raises(httpx2.HTTPStatusError) as raised:
        response.raise_for_status()
    error = raised.value
    shown = "https://mcp.example/mcp?key=${ENV:MCP_TOKEN}"
    text = describe_error("orders", ExceptionGroup("g", [error]), 5, shown_url=shown)
    assert TOKEN not in text and shown in text and "HTTPStatusError" in text
    assert TOKEN in describe_error("orders", error, 5)  # an unsealed url is named as it is
