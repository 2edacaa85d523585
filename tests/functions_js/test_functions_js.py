"""JavaScript functions (Kapso's `async function handler(request, env)`) in V8 isolates:
through the functions API and from flows, on SQLite and PostgreSQL, with real HTTP on
loopback for `fetch` and for the server that must keep answering during an endless loop."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from convoflow.api.app import create_app
from convoflow.services.conversations import sandbox
from tests.api.conftest import new_project, serve
from tests.api.helpers import P
from tests.engine.test_decide import decide_flow
from tests.support import Chat, chain, node

ECHO = """
async function handler(request, env) {
  const body = await request.json();
  console.log("echo", body.name);
  return Response.json({ echo: body, url: new URL(request.url).pathname });
}
"""

KV_COUNTER = """
async function handler(request, env) {
  const n = Number((await env.KV.get("count")) || 0) + 1;
  await env.KV.put("count", String(n));
  const listed = await env.KV.list({ prefix: "co" });
  return Response.json({ count: n, keys: listed.keys.map((k) => k.name) });
}
"""

SECRET_HEADER = """
async function handler(request, env) {
  const { url } = await request.json();
  const headers = { Authorization: "Bearer " + env.API_TOKEN };
  const res = await fetch(url, { method: "POST", headers });
  const type = { "content-type": "application/json" };
  return new Response(await res.text(), { status: res.status, headers: type });
}
"""

ROUTE_BY_BUTTON = """
async function handler(request, env) {
  const payload = await request.json();
  const inbound = payload.whatsapp_context.messages.filter((m) => m.direction === "inbound");
  const last = inbound[inbound.length - 1];
  const choice = (last && (last.reply_option_id || last.content)) || "";
  const next_edge = payload.available_edges.includes(choice) ? choice : payload.available_edges[0];
  return Response.json({ next_edge, vars: { chosen: choice } });
}
"""


async def _whoami(request: Request) -> JSONResponse:
    return JSONResponse({"authorization": request.headers.get("authorization")})


@pytest.fixture
async def loopback():
    async with serve(Starlette(routes=[Route("/whoami", _whoami, methods=["POST"])])) as url:
        yield url


async def _client(engine: Any, name: str, **settings: Any) -> httpx.AsyncClient:
    _, key = await new_project(engine, name, **settings)
    transport = httpx.ASGITransport(app=create_app(engine, run_worker=False))
    return httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"X-API-Key": key}
    )


@pytest.fixture
async def js(engine):
    engine.runtime.js.timeout_seconds = 1.0  # the endless-loop test waits this long
    async with await _client(engine, "js", allow_private_network=True) as http:
        yield http


_names = itertools.count(1)


async def _deployed(http: httpx.AsyncClient, code: str, name: str = "") -> str:
    name = name or f"fn {next(_names)}"
    created = await http.post(f"{P}/functions", json={"function": {"name": name, "code": code}})
    assert created.status_code == 201, created.text
    function_id = str(created.json()["data"]["id"])
    deployed = await http.post(f"{P}/functions/{function_id}/deploy")
    assert deployed.status_code == 202, deployed.text
    return function_id


async def test_json_echo_passthrough_wrapped_and_invocation_log(js):
    function_id = await _deployed(js, ECHO, "echo")
    answer = await js.post(f"{P}/functions/{function_id}/invoke", json={"name": "Ana"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"echo": {"name": "Ana"}, "url": "/echo"}
    patched = await js.patch(
        f"{P}/functions/{function_id}", json={"function": {"invoke_response_mode": "wrapped"}}
    )
    assert patched.status_code == 200, patched.text
    wrapped = await js.post(f"{P}/functions/{function_id}/invoke", json={"name": "Bo"})
    assert wrapped.json() == {"data": {"echo": {"name": "Bo"}, "url": "/echo"}}
    log = (await js.get(f"{P}/functions/{function_id}/invocations")).json()["data"]
    assert log["total"] == 2
    latest = log["invocations"][0]
    assert latest["request_body"] == {"name": "Bo"}
    assert [(c["level"], c["message"]) for c in latest["console_logs"]] == [("log", "echo Bo")]


async def test_syntax_error_is_refused_at_deploy_with_line_and_column(js):
    created = await js.post(
        f"{P}/functions",
        json={
            "function": {
                "name": "bad",
                "code": "async function handler(r, env) {\n  return x +;\n}",
            }
        },
    )
    function_id = created.json()["data"]["id"]
    deployed = await js.post(f"{P}/functions/{function_id}/deploy")
    assert deployed.status_code == 422
    assert "line 2, column 13" in deployed.text
    assert "SyntaxError" in deployed.text
    not_deployed = await js.post(f"{P}/functions/{function_id}/invoke", json={})
    assert not_deployed.status_code == 422


async def test_kv_counter_persists_across_invocations(js):
    function_id = await _deployed(js, KV_COUNTER)
    counts = []
    for _ in range(3):
        answer = await js.post(f"{P}/functions/{function_id}/invoke", json={})
        assert answer.status_code == 200, answer.text
        counts.append(answer.json()["count"])
    assert counts == [1, 2, 3]
    assert answer.json()["keys"] == ["count"]
    # Another function has its own store.
    other = await _deployed(js, KV_COUNTER)
    assert (await js.post(f"{P}/functions/{other}/invoke", json={})).json()["count"] == 1


async def test_secret_in_a_fetch_header(js, loopback):
    function_id = await _deployed(js, SECRET_HEADER)
    secret = await js.post(
        f"{P}/functions/{function_id}/secrets",
        json={"secret": {"name": "API_TOKEN", "value": "s3cr3t"}},
    )
    assert secret.status_code == 201, secret.text
    answer = await js.post(
        f"{P}/functions/{function_id}/invoke", json={"url": f"{loopback}/whoami"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"authorization": "Bearer s3cr3t"}


async def test_fetch_to_loopback_is_refused_without_permission(engine, loopback):
    async with await _client(engine, "guarded") as http:
        function_id = await _deployed(http, SECRET_HEADER)
        answer = await http.post(
            f"{P}/functions/{function_id}/invoke", json={"url": f"{loopback}/whoami"}
        )
    assert answer.status_code == 502
    assert "fetch failed" in answer.json()["detail"]
    assert "internal address 127.0.0.1" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("require('fs').readFileSync('/etc/passwd')", "require is not defined"),
        ("process.exit(1)", "process is not defined"),
        ("Deno.readTextFile('/etc/passwd')", "Deno is not defined"),
    ],
)
async def test_sandbox_escape_attempt_is_a_clear_invocation_error(js, code, expected):
    function_id = await _deployed(js, f"async function handler(request, env) {{ {code} }}")
    answer = await js.post(f"{P}/functions/{function_id}/invoke", json={})
    assert answer.status_code == 502
    assert expected in answer.json()["detail"]
    log = (await js.get(f"{P}/functions/{function_id}/invocations?status=failed")).json()["data"]
    assert expected in log["invocations"][0]["error_message"]


async def test_memory_bomb_is_stopped(engine, js):
    engine.runtime.js.timeout_seconds = 10.0  # the heap limit, not the clock, must stop it
    bomb = """async function handler() {
      const a = [];
      while (true) a.push(new Array(1e6).fill(a.length));
    }"""
    function_id = await _deployed(js, bomb)
    answer = await js.post(f"{P}/functions/{function_id}/invoke", json={})
    assert answer.status_code == 502
    assert "memory limit" in answer.json()["detail"]
    # The next invocation gets a fresh worker.
    echo = await _deployed(js, ECHO)
    assert (await js.post(f"{P}/functions/{echo}/invoke", json={"name": "x"})).status_code == 200


async def test_endless_loop_is_stopped_and_the_server_keeps_serving(js):
    loop = "async function handler() { await null; while (true) {} }"
    function_id = await _deployed(js, loop)
    invocation = asyncio.create_task(js.post(f"{P}/functions/{function_id}/invoke", json={}))
    answered_meanwhile = 0
    while not invocation.done():
        health = await js.get("/healthz")
        assert health.status_code == 200
        answered_meanwhile += 1
        await asyncio.sleep(0.05)
    answer = await invocation
    assert answer.status_code == 502
    assert "timed out after 1 s" in answer.json()["detail"]
    assert answered_meanwhile >= 2  # /healthz answered while the loop ran


async def test_function_node_merges_the_vars_it_returns(engine, js):
    echo_id = await _deployed(
        js,
        """async function handler(r) {
          const p = await r.json();
          return Response.json({ vars: { step: p.flow_info.step_id } });
        }""",
    )
    project_id = (await js.get(f"{P}/functions/{echo_id}")).json()["data"]["project_id"]
    flow = chain(
        node("start", "start"),
        node("fn", "function", function_id=echo_id, save_response_to="out"),
        node("after", "send_text", message="step {{vars.step}}"),
    )
    chat = await Chat.open(engine, flow, project_id=project_id)
    assert await chat.texts() == ["step fn"]


async def test_decide_function_routes_by_the_button_id(engine, js):
    router_id = await _deployed(js, ROUTE_BY_BUTTON)
    routed = decide_flow(
        decision_type="function",
        function_id=router_id,
        conditions=[{"label": label} for label in ("a", "b", "c")],
    )
    project_id = (await js.get(f"{P}/functions/{router_id}")).json()["data"]["project_id"]
    buttons = [{"id": "a", "title": "Alpha"}, {"id": "b", "title": "Beta"}]
    menu = node(
        "menu", "send_interactive", interactive_type="button", body_text="Pick", buttons=buttons
    )
    routed["nodes"][1:1] = [menu, node("wait", "wait_for_response")]
    routed["edges"][0] = {"source": "start", "target": "menu", "label": "next"}
    routed["edges"][1:1] = [
        {"source": "menu", "target": "wait", "label": "next"},
        {"source": "wait", "target": "route", "label": "next"},
    ]
    chat = await Chat.open(engine, routed, project_id=project_id)
    [shown] = await chat.bot()
    # The title "Beta" is no label: only the button's id ("b") can route to "took b".
    await sandbox.say(engine, chat.conversation_id, "Beta", last_bot_message=shown)
    await engine.worker.drain()
    assert await chat.texts() == ["took b"]
    execution = await chat.execution()
    assert execution["context"]["vars"]["chosen"] == "b"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("while (true) {}\nasync function handler() {}", "ran longer than 1 s"),
        ("let handler = 1", "defines no `async function handler(request, env)`"),
    ],
)
async def test_deploy_refuses_code_whose_top_level_never_ends_or_has_no_handler(js, code, expected):
    created = await js.post(f"{P}/functions", json={"function": {"name": "top", "code": code}})
    function_id = created.json()["data"]["id"]
    deployed = await js.post(f"{P}/functions/{function_id}/deploy")
    assert deployed.status_code == 422
    assert expected in deployed.text
