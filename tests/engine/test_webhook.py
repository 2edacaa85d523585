"""webhook: a real HTTP server on 127.0.0.1; rendering, idempotency key, retries, errors,
and the SSRF guard."""

from __future__ import annotations

import socket
from typing import Any

from convoflow.engine.advance import Advance
from convoflow.services.projects.accounts import set_secret
from convoflow.store.schema import action_journal
from tests.support import Chat, chain, events, make_project, node, table_rows


def webhook_flow(url: str, **config: Any) -> dict[str, Any]:
    return chain(
        node("start", "start"),
        node("call", "webhook", url=url, **config),
        node("after", "send_text", message="after: {{vars.after_text}}"),
    )


async def open_private(engine, flow, **kwargs) -> Chat:
    project_id = await make_project(engine, allow_private_network=True)
    return await Chat.open(engine, flow, project_id=project_id, **kwargs)


async def action_events(engine, execution_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in await events(engine, execution_id)
        if e["event_type"] in ("action_performed", "action_failed")
        and e["payload"].get("action") == "webhook"
    ]


async def test_request_is_rendered_and_response_saved(engine, http_server):
    http_server.replies = [(201, {"id": 7, "state": "created"})]
    project_id = await make_project(engine, allow_private_network=True)

    async def secret(adv: Advance) -> None:
        await set_secret(adv.conn, engine.clock, project_id, "API_KEY", "s3cret")

    await engine.runtime.op(secret)
    flow = chain(
        node("start", "start"),
        node(
            "call",
            "webhook",
            url=http_server.url + "/orders/{{vars.order}}?src={{vars.src}}",
            method="PUT",
            headers={"X-Token": "tok-{{vars.token}}", "Authorization": "Bearer ${ENV:API_KEY}"},
            body_template={"name": "{{vars.name}}", "items": ["{{vars.order}}", "fixed"]},
            save_response_to="resp",
        ),
        node("after", "send_text", message="order {{vars.resp.id}} is {{vars.resp.state}}"),
    )
    variables = {"order": "A-7", "src": "wa", "token": "xyz", "name": "Ana"}
    chat = await Chat.open(engine, flow, project_id=project_id, variables=variables)
    assert await chat.texts() == ["order 7 is created"]
    execution = await chat.execution()
    assert execution["status"] == "ended"
    assert execution["context"]["vars"]["resp"] == {"id": 7, "state": "created"}

    [request] = http_server.requests
    assert request.method == "PUT"
    assert request.path == "/orders/A-7?src=wa"
    assert request.headers["x-token"] == "tok-xyz"
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {"name": "Ana", "items": ["A-7", "fixed"]}
    key = request.headers["idempotency-key"]
    assert key.startswith(f"{execution['id']}:call:")

    [performed] = await action_events(engine, execution["id"])
    assert performed["event_type"] == "action_performed"
    assert performed["payload"]["status"] == 201
    assert performed["payload"]["attempts"] == 1
    [journal] = await table_rows(engine, action_journal, execution_id=execution["id"])
    assert journal["idempotency_key"] == key
    assert journal["status"] == "done"
    # The rendered headers (a project secret among them) are journaled only sealed.
    assert "s3cret" not in repr(journal) and "headers" not in journal["request"]
    assert journal["request"]["headers_sealed"].startswith("gAAAAA")


async def test_json_string_body_and_text_response(engine, http_server):
    http_server.replies = [(200, "plain words")]
    flow = webhook_flow(
        http_server.url + "/hook",
        body_template='{"who": "{{vars.name}}"}',
        headers='{"X-From": "{{vars.name}}"}',
        save_response_to="after_text",
    )
    chat = await open_private(engine, flow, variables={"name": "Ana"})
    assert await chat.texts() == ["after: plain words"]
    [request] = http_server.requests
    assert request.json == {"who": "Ana"}
    assert request.headers["x-from"] == "Ana"


async def test_get_sends_no_body(engine, http_server):
    flow = webhook_flow(http_server.url + "/q", method="GET", save_response_to="after_text")
    chat = await open_private(engine, flow)
    [request] = http_server.requests
    assert (request.method, request.body) == ("GET", b"")
    assert (await chat.execution())["context"]["vars"]["after_text"] == {"ok": True}


async def test_5xx_is_retried_with_the_same_key_after_backoff(engine, clock, http_server):
    http_server.replies = [(503, "busy"), (502, "still busy"), (200, {"done": True})]
    flow = webhook_flow(http_server.url, save_response_to="resp")
    chat = await open_private(engine, flow)
    assert len(http_server.requests) == 1
    execution = await chat.execution()
    assert execution["status"] == "running"
    assert execution["cursor"]["phase"] == "await_action"

    await engine.worker.drain()  # the retry is not due yet
    assert len(http_server.requests) == 1
    clock.advance(1)
    await engine.worker.drain()
    assert len(http_server.requests) == 2
    assert (await chat.execution())["status"] == "running"
    clock.advance(2)
    await engine.worker.drain()
    assert len(http_server.requests) == 3

    execution = await chat.execution()
    assert execution["status"] == "ended"
    assert execution["context"]["vars"]["resp"] == {"done": True}
    keys = {r.headers["idempotency-key"] for r in http_server.requests}
    assert len(keys) == 1
    [performed] = await action_events(engine, execution["id"])
    assert (performed["payload"]["status"], performed["payload"]["attempts"]) == (200, 3)


async def test_continue_on_error_saves_the_error_and_goes_on(engine, clock, http_server):
    http_server.replies = [(500, {"error": "boom"})]
    flow = webhook_flow(
        http_server.url + "/x",
        max_attempts=2,
        continue_on_error=True,
        save_error_to="hook_error",
    )
    chat = await open_private(engine, flow, variables={"after_text": "went on"})
    clock.advance(1)
    await engine.worker.drain()
    assert len(http_server.requests) == 2
    assert await chat.texts() == ["after: went on"]
    execution = await chat.execution()
    assert execution["status"] == "ended"
    error = execution["context"]["vars"]["hook_error"]
    assert error["status"] == 500
    assert error["body"] == {"error": "boom"}
    assert "HTTP 500" in error["message"]
    [failed] = await action_events(engine, execution["id"])
    assert failed["event_type"] == "action_failed"
    assert failed["payload"]["attempts"] == 2


async def test_continue_on_error_default_variable(engine, http_server):
    http_server.replies = [(400, {"error": "bad"})]
    flow = webhook_flow(http_server.url, continue_on_error=True)
    chat = await open_private(engine, flow)
    execution = await chat.execution()
    assert execution["status"] == "ended"
    assert execution["context"]["vars"]["webhook_error"]["status"] == 400


async def test_4xx_fails_the_execution_without_retry(engine, clock, http_server):
    http_server.replies = [(422, {"error": "invalid"})]
    flow = webhook_flow(http_server.url + "/bad")
    chat = await open_private(engine, flow)
    clock.advance(3600)
    await engine.worker.drain()
    assert len(http_server.requests) == 1
    assert await chat.texts() == []
    execution = await chat.execution()
    assert execution["status"] == "failed"
    details = execution["error_details"]
    assert details["step_identifier"] == "call"
    assert details["status"] == 422
    assert "HTTP 422" in details["message"]
    assert details["message"].startswith("webhook 'call' failed")
    kinds = [e["event_type"] for e in await events(engine, execution["id"])]
    assert kinds[-3:] == ["action_failed", "step_failed", "execution_failed"]


async def test_network_errors_are_retried_then_fail(engine, clock):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    flow = webhook_flow(f"http://127.0.0.1:{port}/down", max_attempts=2)
    chat = await open_private(engine, flow)
    assert (await chat.execution())["status"] == "running"
    clock.advance(1)
    await engine.worker.drain()
    execution = await chat.execution()
    assert execution["status"] == "failed"
    assert "ConnectError" in execution["error_details"]["message"]
    assert execution["error_details"]["status"] is None


async def test_ssrf_guard_refuses_loopback_without_allow_private_network(engine, http_server):
    flow = webhook_flow(http_server.url + "/internal")
    chat = await Chat.open(engine, flow)  # project without allow_private_network
    execution = await chat.execution()
    assert execution["status"] == "failed"
    message = execution["error_details"]["message"]
    assert "resolves to internal address 127.0.0.1" in message
    assert "allow_private_network" in message
    assert http_server.requests == []


async def test_ssrf_guard_refuses_non_http_schemes(engine):
    chat = await open_private(engine, webhook_flow("file:///etc/passwd"))
    execution = await chat.execution()
    assert execution["status"] == "failed"
    assert "must start with http:// or https://" in execution["error_details"]["message"]


async def test_message_during_a_pending_call_answers_the_next_wait(engine, clock, http_server):
    """While the webhook is being retried the user writes; the reply must neither be lost
    nor make the call's result stale."""
    http_server.replies = [(503, "busy"), (200, {"ok": True})]
    flow = chain(
        node("start", "start"),
        node("call", "webhook", url=http_server.url),
        node("wait", "wait_for_response", save_response_to="said"),
        node("echo", "send_text", message="you said {{vars.said}}"),
    )
    chat = await open_private(engine, flow)
    assert await chat.say("hello there") == []
    clock.advance(1)
    await engine.worker.drain()
    assert len(http_server.requests) == 2
    assert await chat.texts() == ["you said hello there"]
    assert (await chat.execution())["status"] == "ended"
