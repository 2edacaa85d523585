"""No log line contains a secret (issue 8, item 4).

`convoflow serve` runs as a subprocess, as a user runs it, with every log it writes
captured (stdout and stderr, DEBUG level). Over HTTP it then goes through the Meta
handshake (hub.verify_token in the query string), a whole WhatsApp conversation with the
fake Graph (the access token on every send, signed webhooks), a webhook node whose header,
url query and body hold a project secret, a failing function (with a function secret), a
failing project webhook (with its secret key and a secret header), an agent (a provider
model with its API key, on the fake LLM) calling a tool of an MCP server whose header is a
project secret, a bad-signature webhook, /metrics with its token, and an unhandled error.
Then every byte of the output is searched for every secret value used, and for the user's
message text.

The unhandled error is a real fault, not a test-only switch: the test renames the
`api_keys` table under the running server (as a botched manual migration would), then
calls the API with a key the server has not cached. The key lookup raises a database
error inside the auth dependency, whose frames hold the key and the request's headers —
exactly what a traceback with local variables used to print.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.engine.advance import Advance
from convoflow.fakes.graph.server import DEFAULT_PHONE_NUMBER_ID, FakeGraph
from convoflow.fakes.llm.rules import Rule, Script, ToolCall
from convoflow.fakes.llm.server import FakeLLM
from convoflow.fakes.loopback import serve_app
from convoflow.process import build_process
from convoflow.services.projects.accounts import create_api_key, set_secret
from tests.ai.test_agent import START
from tests.ai.test_agent_mcp import TOOL, Orders, mcp_server
from tests.ai.test_agent_mcp import orders as orders  # the MCP server fixture
from tests.api.conftest import new_project
from tests.observability.server import ServerProcess
from tests.support import chain, node

P = "/platform/v1"
NUMBER = DEFAULT_PHONE_NUMBER_ID
USER = "15550002222"

ACCESS_TOKEN = "EAAGlogsAccessToken7f3a9c"
APP_SECRET = "logsAppSecret51e0d7"
VERIFY_TOKEN = "logsVerifyToken2b8e44"
WEBHOOK_SECRET = "logsWebhookSecret93a1f0"
WEBHOOK_HEADER = "logsWebhookHeader66c2d1"
FUNCTION_SECRET = "logsFunctionSecret0a9b8c"
PROJECT_SECRET = "logsProjectSecretd4e5f6"
METRICS_TOKEN = "logsMetricsToken1c2d3e"
MCP_TOKEN = "logsMcpToken8e7d6c"  # a project secret, in an MCP server's header
LLM_API_KEY = "sk-logsLlmApiKey5b4a39"  # a provider model's API key
USER_TEXT = "my private words 4471"
BAD_SIGNATURE = "sha256=" + "ab12" * 16


@pytest.fixture
def log_format(backend: str) -> str:
    # Each renderer once (the server run is the slow part); the database is irrelevant to
    # what is logged.
    return "json" if backend == "postgresql" else "console"


class Endpoint:
    """The outside world's HTTP endpoints: `/ok` answers, `/broken` refuses (422: a final
    failure, not retried) — what a failing function or project webhook receives."""

    def __init__(self) -> None:
        self.url = ""
        self.seen: list[dict[str, str]] = []
        self.queries: list[str] = []
        self.bodies: list[Any] = []

    def app(self) -> Starlette:
        async def ok(request: Request) -> JSONResponse:
            self.seen.append(dict(request.headers))
            self.queries.append(request.url.query)
            self.bodies.append(await request.json())
            return JSONResponse({"ok": True})

        async def broken(request: Request) -> JSONResponse:
            self.seen.append(dict(request.headers))
            return JSONResponse({"error": "refused"}, status_code=422)

        return Starlette(
            routes=[Route("/ok", ok, methods=["POST"]), Route("/broken", broken, methods=["POST"])]
        )


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    holder = Endpoint()
    async with serve_app(holder.app()) as url:
        holder.url = url
        yield holder


async def _project(db_url: str) -> tuple[str, str]:
    """A project with a `${ENV:API_TOKEN}` secret; returns (its API key, a second key
    the server has never seen)."""
    engine = build_process(db_url, pool_size=2)
    try:
        project_id, key = await new_project(engine, "logs", allow_private_network=True)

        async def more(adv: Advance) -> str:
            await set_secret(adv.conn, engine.clock, project_id, "API_TOKEN", PROJECT_SECRET)
            await set_secret(adv.conn, engine.clock, project_id, "MCP_TOKEN", MCP_TOKEN)
            return await create_api_key(adv.conn, engine.clock, project_id, "unused")

        return key, await engine.runtime.op(more)
    finally:
        await engine.close()


def _definition(endpoint: str, function_id: str) -> dict[str, Any]:
    return chain(
        node("start", "start"),
        node("hello", "send_text", message="Welcome! What is your question?"),
        node("wait", "wait_for_response"),
        node(
            "hook",
            "webhook",
            url=f"{endpoint}/ok?key=${{ENV:API_TOKEN}}",
            headers={"Authorization": "Bearer ${ENV:API_TOKEN}"},
            body_template={"question": "{{vars.last_user_input}}", "token": "${ENV:API_TOKEN}"},
        ),
        node("thanks", "send_text", message="Thanks, we are on it."),
        node("fn", "function", function_id=function_id),
    )


async def _configure(api: httpx.AsyncClient, endpoint: str) -> str:
    number = {
        "phone_number_id": NUMBER,
        "access_token": ACCESS_TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "display_phone_number": "+1 555 010 0000",
    }
    response = await api.post(f"{P}/whatsapp/phone_numbers", json={"whatsapp_phone_number": number})
    assert response.status_code == 201, response.text
    hook = {
        "url": f"{endpoint}/broken",
        "events": ["whatsapp.message.received"],
        "secret_key": WEBHOOK_SECRET,
        "headers": {"X-Partner-Token": WEBHOOK_HEADER},
    }
    response = await api.post(f"{P}/whatsapp/webhooks", json={"whatsapp_webhook": hook})
    assert response.status_code == 201, response.text
    function = {"name": "Broken", "endpoint_url": f"{endpoint}/broken"}
    response = await api.post(f"{P}/functions", json={"function": function})
    assert response.status_code == 201, response.text
    function_id = response.json()["data"]["id"]
    assert (await api.post(f"{P}/functions/{function_id}/deploy")).status_code == 202
    secret = {"secret": {"name": "PARTNER_KEY", "value": FUNCTION_SECRET}}
    response = await api.post(f"{P}/functions/{function_id}/secrets", json=secret)
    assert response.status_code == 201, response.text
    invoked = await api.post(f"{P}/functions/{function_id}/invoke", json={"q": USER_TEXT})
    assert invoked.status_code == 502, invoked.text  # a failing function

    body = {"workflow": {"name": "Support", "definition": _definition(endpoint, function_id)}}
    response = await api.post(f"{P}/workflows", json=body)
    assert response.status_code == 201, response.text
    workflow_id = response.json()["data"]["id"]
    trigger = {"trigger": {"trigger_type": "inbound_message", "phone_number_id": NUMBER}}
    response = await api.post(f"{P}/workflows/{workflow_id}/triggers", json=trigger)
    assert response.status_code == 201, response.text
    changes = {"status": "active", "message_debounce_seconds": 0}
    response = await api.patch(f"{P}/workflows/{workflow_id}", json={"workflow": changes})
    assert response.status_code == 200, response.text
    return str(workflow_id)


async def _until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + 20  # bounded: a missing step fails instead of hanging
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _conversation(
    api: httpx.AsyncClient, fake: FakeGraph, workflow_id: str
) -> dict[str, Any]:
    """The user writes twice; the flow answers, calls the webhook node, thanks, calls the
    failing function. Returns the execution."""

    def sent() -> list[dict[str, Any]]:
        return [r for r in fake.records(kind="message", to=USER) if r["http_status"] == 200]

    async def sent_at_least(count: int) -> bool:
        return len(sent()) >= count

    first = await fake.simulate_inbound({"from": USER, "name": "Ana", "text": "hello"})
    assert first["webhook_status"] == 200, first
    await _until(lambda: sent_at_least(1), "the welcome message")
    second = await fake.simulate_inbound({"from": USER, "name": "Ana", "text": USER_TEXT})
    assert second["webhook_status"] == 200, second
    await _until(lambda: sent_at_least(2), "the thanks message")

    async def finished() -> dict[str, Any] | None:
        listed = (await api.get(f"{P}/workflows/{workflow_id}/executions")).json()["data"]
        done = [e for e in listed if e["status"] in ("ended", "failed")]
        return done[0] if done else None

    return dict(await _until(finished, "the execution to finish"))


@pytest.fixture
async def llm() -> AsyncIterator[tuple[FakeLLM, str]]:
    """The fake LLM: the agent calls the MCP tool, then completes once it read the result."""
    rules = [
        Rule(contains=START, tool_call=ToolCall(name=TOOL, arguments={"order_id": "A1"})),
        Rule(contains='"shipped"', tool_call=ToolCall(name="complete_task", arguments={})),
    ]
    fake = FakeLLM(Script(rules))
    async with serve_app(fake.app) as url:
        yield fake, url


async def _agent_run(api: httpx.AsyncClient, llm_url: str, mcp_url: str) -> None:
    """A provider model with its API key, an agent flow whose MCP server's header is a
    project secret, started on the sandbox channel and run to its end."""
    model = {"name": "fake", "provider": "openai", "base_url": f"{llm_url}/v1"}
    body = {"provider_model": {**model, "api_key": LLM_API_KEY, "timeout_seconds": 5}}
    response = await api.post(f"{P}/provider_models", json=body)
    assert response.status_code == 201, response.text
    server = mcp_server(mcp_url, headers={"Authorization": "Bearer ${ENV:MCP_TOKEN}"})
    agent = {"system_prompt": "You look orders up.", "provider_model_name": "fake"}
    definition = chain(
        node("start", "start"),
        node("agent", "agent", **agent, max_iterations=5, flow_agent_mcp_servers=[server]),
    )
    body = {"workflow": {"name": "Orders agent", "definition": definition}}
    response = await api.post(f"{P}/workflows", json=body)
    assert response.status_code == 201, response.text
    workflow_id = response.json()["data"]["id"]
    trigger = {"trigger": {"trigger_type": "api_call"}}
    response = await api.post(f"{P}/workflows/{workflow_id}/triggers", json=trigger)
    assert response.status_code == 201, response.text
    changes = {"workflow": {"status": "active"}}
    assert (await api.patch(f"{P}/workflows/{workflow_id}", json=changes)).status_code == 200
    start = {
        "workflow_execution": {"phone_number": "+15550003333", "context": {"channel": "sandbox"}}
    }
    response = await api.post(f"{P}/workflows/{workflow_id}/executions", json=start)
    assert response.status_code == 202, response.text
    execution_id = response.json()["data"]["id"]

    async def finished() -> dict[str, Any] | None:
        got = (await api.get(f"{P}/workflow_executions/{execution_id}")).json()["data"]
        return got if got["status"] in ("ended", "failed") else None

    execution = await _until(finished, "the agent execution to finish")
    assert execution["status"] == "ended", execution


async def _hostile_and_broken(server: ServerProcess, db_url: str, second_key: str) -> None:
    # Generous: a traceback rendered with every local variable took seconds per error.
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
        raw, _ = bodies.signed({"object": "whatsapp_business_account", "entry": []}, APP_SECRET)
        forged = await http.post(
            "/webhooks/whatsapp",
            content=raw,
            headers={"X-Hub-Signature-256": BAD_SIGNATURE, "Content-Type": "application/json"},
        )
        assert forged.status_code == 403
        metrics = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert metrics.status_code == 200 and b"convoflow_sends_total" in metrics.content
        # The fault: the key table disappears under the running server.
        engine = create_async_engine(db_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text("ALTER TABLE api_keys RENAME TO api_keys_gone"))
        finally:
            await engine.dispose()
        broken = await http.get(f"{P}/workflows", headers={"X-API-Key": second_key})
        assert broken.status_code >= 500, broken.text
        bearer = await http.get(f"{P}/workflows", headers={"Authorization": f"Bearer {second_key}"})
        assert bearer.status_code >= 500, bearer.text


async def test_no_secret_reaches_the_logs(
    db_url: str,
    tmp_path: Path,
    log_format: str,
    endpoint: Endpoint,
    llm: tuple[FakeLLM, str],
    orders: Orders,
) -> None:
    key, second_key = await _project(db_url)
    fake = FakeGraph(app_secret=APP_SECRET, status_delay_seconds=0.0)
    async with serve_app(fake.app) as fake_url:
        server = ServerProcess(
            db_url,
            tmp_path / "server.log",
            CONVOFLOW_LOG_LEVEL="DEBUG",
            CONVOFLOW_LOG_JSON="1" if log_format == "json" else "0",
            CONVOFLOW_GRAPH_BASE_URL=f"{fake_url}/v23.0",
            CONVOFLOW_GRAPH_CONVERSATION_INTERVAL_SECONDS="0",
            CONVOFLOW_ALLOW_PRIVATE_NETWORK="true",
            CONVOFLOW_WORKER_POLL_SECONDS="0.05",
            CONVOFLOW_METRICS_TOKEN=METRICS_TOKEN,
        )
        server.start()
        try:
            fake.configure({"webhook_url": f"{server.url}/webhooks/whatsapp"})
            async with httpx.AsyncClient(
                base_url=server.url, headers={"X-API-Key": key}, timeout=30
            ) as api:
                workflow_id = await _configure(api, endpoint.url)
                handshake = await api.get(
                    "/webhooks/whatsapp",
                    params={
                        "hub.mode": "subscribe",
                        "hub.verify_token": VERIFY_TOKEN,
                        "hub.challenge": "1158201444",
                    },
                )
                assert handshake.status_code == 200 and handshake.text == "1158201444"
                execution = await _conversation(api, fake, workflow_id)
                await _agent_run(api, llm[1], orders.url)
            await _hostile_and_broken(server, db_url, second_key)
        finally:
            server.stop()
    output = server.output()
    _assert_secrets_used(endpoint, fake)
    _assert_agent_secrets_used(llm[0], orders)
    _assert_no_secret(output, key, second_key)
    _assert_logged_what_matters(output, execution, log_format)


def _assert_secrets_used(endpoint: Endpoint, fake: FakeGraph) -> None:
    """The secrets were really in play (else finding none of them proves nothing)."""
    headers = [h.get("authorization", "") for h in endpoint.seen]
    assert f"Bearer {PROJECT_SECRET}" in headers
    # The webhook node's url query and body name it too (journaled sealed).
    assert f"key={PROJECT_SECRET}" in endpoint.queries
    assert {"question": USER_TEXT, "token": PROJECT_SECRET} in endpoint.bodies
    assert any(h.get("x-partner-token") == WEBHOOK_HEADER for h in endpoint.seen)
    assert any(h.get("x-webhook-signature") for h in endpoint.seen)
    assert fake.records(kind="message")


def _assert_agent_secrets_used(fake: FakeLLM, orders: Orders) -> None:
    assert orders.calls == ["A1"]
    assert {h.get("authorization") for h in orders.headers} == {f"Bearer {MCP_TOKEN}"}
    assert {r["headers"].get("authorization") for r in fake.requests} == {f"Bearer {LLM_API_KEY}"}


def _assert_no_secret(output: bytes, *keys: str) -> None:
    secrets = {
        "API key": keys[0],
        "unused API key": keys[1],
        "access token": ACCESS_TOKEN,
        "app secret": APP_SECRET,
        "verify token": VERIFY_TOKEN,
        "project webhook secret": WEBHOOK_SECRET,
        "project webhook header": WEBHOOK_HEADER,
        "function secret": FUNCTION_SECRET,
        "project secret": PROJECT_SECRET,
        "metrics token": METRICS_TOKEN,
        "MCP server header": MCP_TOKEN,
        "provider model API key": LLM_API_KEY,
        "forged signature": BAD_SIGNATURE.removeprefix("sha256="),
        "the user's text": USER_TEXT,
    }
    # The key that encrypts secrets at rest (tests/conftest.py sets one; the server
    # inherits it).
    for index, key in enumerate(filter(None, os.environ["CONVOFLOW_SECRET_KEY"].split(","))):
        secrets[f"encryption key {index}"] = key.strip()
    counts = {name: output.count(value.encode()) for name, value in secrets.items()}
    leaked = {name: n for name, n in counts.items() if n}
    first = min((output.find(secrets[name].encode()) for name in leaked), default=0)
    context = output[max(0, first - 400) : first + 200].decode(errors="replace")
    assert leaked == {}, f"copies in the logs: {leaked}; the first in:\n{context}"


def _assert_logged_what_matters(output: bytes, execution: dict[str, Any], log_format: str) -> None:
    text = output.decode()
    lines = [line for line in text.splitlines() if line.strip()]
    if log_format == "json":
        events = [json.loads(line) for line in lines]  # every line, uvicorn's too
        received = [e for e in events if e["event"] == "message received"]
        sent = [e for e in events if e["event"] == "message sent"]
        assert {e["execution_id"] for e in received} == {execution["id"]}
        assert len(received) == 2 and all(e["wamid"] and e["conversation_id"] for e in received)
        assert len(sent) == 2 and all(e["wamid"].startswith("wamid.") for e in sent)
        assert {e["execution_id"] for e in sent} == {execution["id"]}
        assert any(e.get("logger") == "uvicorn.access" for e in events)
        assert any("exception" in e and "Traceback" in e["exception"] for e in events)
    else:
        assert text.count("message received") == 2 and text.count("message sent") == 2
        assert execution["id"] in text and "Traceback (most recent call last)" in text
    assert "hub.verify_token=[redacted]" in text  # the access log line is there, masked
