"""The egress module against a real HTTP server on 127.0.0.1: the guard, the outcome
classes (ok / retryable / permanent), the error shape, the idempotency key header and the
project's allow_private_network policy; and a webhook node honouring Retry-After."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from convoflow.engine.egress import Egress, EgressRefused
from convoflow.store.schema import action_journal
from tests.engine.test_webhook import action_events, open_private, webhook_flow
from tests.support import make_project


@pytest.fixture
async def egress():
    out = Egress(allow_private_network=True)
    yield out
    await out.close()


@pytest.mark.parametrize(
    ("reply", "kind", "retry_after"),
    [
        ((200, {"a": 1}), "ok", None),
        ((503, "down"), "retryable", None),
        ((503, "down", {"Retry-After": "3"}), "retryable", 3.0),
        ((429, "slow down", {"Retry-After": "7"}), "retryable", 7.0),
        ((429, "slow down"), "permanent", None),
        ((429, "slow down", {"Retry-After": "86400"}), "retryable", 600.0),
        ((404, {"error": "nope"}), "permanent", None),
        ((302, "", {"Location": "http://169.254.169.254/"}), "permanent", None),
    ],
)
async def test_outcomes_are_classified(egress, http_server, reply, kind, retry_after):
    http_server.replies = [reply]
    outcome = await egress.request("POST", http_server.url + "/x", project_id=None)
    assert (outcome.kind, outcome.status, outcome.retry_after) == (kind, reply[0], retry_after)
    assert outcome.refused is False and outcome.duration_ms is not None
    if kind == "ok":
        assert outcome.error is None and outcome.parsed() == {"a": 1}
    else:
        assert outcome.error == f"the endpoint answered HTTP {reply[0]}"
    assert len(http_server.requests) == 1  # a redirect is not followed


async def test_idempotency_key_and_bodies_are_sent(egress, http_server):
    await egress.request(
        "PUT",
        http_server.url + "/j",
        project_id=None,
        headers={"X-A": "1"},
        json_body={"n": 1},
        idempotency_key="key-1",
    )
    await egress.request(
        "POST",
        http_server.url + "/raw",
        project_id=None,
        content=b"raw bytes",
        idempotency_key="key-2",
        idempotency_header="X-Idempotency-Key",
    )
    first, second = http_server.requests
    assert (first.method, first.json, first.headers["x-a"]) == ("PUT", {"n": 1}, "1")
    assert first.headers["idempotency-key"] == "key-1"
    assert second.body == b"raw bytes"
    assert second.headers["x-idempotency-key"] == "key-2"
    assert "idempotency-key" not in second.headers


async def test_network_error_is_retryable(egress):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = await egress.request("POST", f"http://127.0.0.1:{port}/", project_id=None)
    assert outcome.kind == "retryable" and outcome.status is None
    assert outcome.error is not None and outcome.error.startswith("ConnectError")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("{server}/internal", "resolves to internal address 127.0.0.1"),
        ("http://[::ffff:127.0.0.1]/", "resolves to internal address"),
        ("http://169.254.169.254/latest/meta-data", "resolves to internal address"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("http:///nohost", "has no host"),
    ],
)
async def test_guard_refusal_is_permanent_and_sends_nothing(http_server, url, reason):
    egress = Egress(allow_private_network=False)
    outcome = await egress.request("POST", url.format(server=http_server.url), project_id=None)
    assert (outcome.kind, outcome.refused, outcome.status) == ("permanent", True, None)
    assert outcome.error is not None
    assert outcome.error.startswith("refused by the SSRF guard: ") and reason in outcome.error
    assert http_server.requests == []
    await egress.close()


async def test_the_mcp_client_guards_its_url_and_every_request(http_server):
    """The MCP SDK makes its own requests (httpx2): the client egress builds for it refuses
    an internal URL up front, and its transport refuses any internal request it is asked to
    send (sending nothing)."""
    egress = Egress(allow_private_network=False)
    with pytest.raises(EgressRefused, match=r"resolves to internal address 127\.0\.0\.1"):
        await egress.mcp_http_client(
            http_server.url, project_id=None, headers={}, timeout_seconds=1
        )
    # A public address literal passes the up-front check without DNS; the request the
    # client is then asked to make to loopback is refused by its transport.
    client = await egress.mcp_http_client(
        "http://93.184.215.14/mcp", project_id=None, headers={"A": "b"}, timeout_seconds=1
    )
    async with client:
        with pytest.raises(EgressRefused, match="allow_private_network"):
            await client.post(http_server.url + "/mcp", json={})
    assert http_server.requests == []
    await egress.close()


async def test_unresolved_host_is_retryable_not_refused():
    egress = Egress(allow_private_network=False)
    outcome = await egress.request("POST", "http://no-such-host.invalid/", project_id=None)
    assert (outcome.kind, outcome.refused) == ("retryable", False)
    assert outcome.error is not None and "cannot resolve host" in outcome.error
    await egress.close()


async def test_the_project_policy_decides_private_targets(engine, http_server):
    egress = engine.runtime.egress
    allowed = await make_project(engine, allow_private_network=True)
    other = await make_project(engine, "other")
    ok = await egress.request("GET", http_server.url, project_id=allowed)
    refused = await egress.request("GET", http_server.url, project_id=other)
    no_project = await egress.request("GET", http_server.url, project_id=None)
    assert ok.kind == "ok"
    assert refused.refused and no_project.refused  # one project's setting is not another's
    assert len(http_server.requests) == 1


async def test_webhook_node_waits_out_a_429_with_retry_after(engine, clock, http_server):
    http_server.replies = [(429, "busy", {"Retry-After": "30"}), (200, {"done": True})]
    chat = await open_private(engine, webhook_flow(http_server.url, save_response_to="r"))
    assert (await chat.execution())["status"] == "running"
    clock.advance(29)
    await engine.worker.drain()
    assert len(http_server.requests) == 1  # not before the endpoint said
    clock.advance(2)
    await engine.worker.drain()
    execution = await chat.execution()
    assert execution["status"] == "ended" and execution["context"]["vars"]["r"] == {"done": True}
    [performed] = await action_events(engine, execution["id"])
    assert performed["payload"]["attempts"] == 2


async def test_a_call_journaled_before_egress_keeps_its_projects_policy(engine, clock, http_server):
    """Journals written by the previous version carry `allow_private`, not `project_id`:
    their retries after an upgrade still follow the project's setting."""
    http_server.replies = [(503, "down"), (200, {"done": True})]
    chat = await open_private(engine, webhook_flow(http_server.url, save_response_to="r"))
    execution_id = (await chat.execution())["id"]
    async with engine.db.write() as conn:
        [row] = (
            await conn.execute(
                sa.select(action_journal.c.id, action_journal.c.request).where(
                    action_journal.c.execution_id == execution_id
                )
            )
        ).all()
        old = {k: v for k, v in row.request.items() if k != "project_id"}
        await conn.execute(
            sa.update(action_journal)
            .where(action_journal.c.id == row.id)
            .values(request={**old, "allow_private": True})
        )
    clock.advance(2)
    await engine.worker.drain()
    execution = await chat.execution()
    assert execution["status"] == "ended" and execution["context"]["vars"]["r"] == {"done": True}
    assert len(http_server.requests) == 2


async def test_errors_quote_the_shown_url_never_the_secret_one():
    """With `shown_url` (a sealed url's template) no error holds any part of the url: not
    its host (which the guard quoted, lower-cased), not the library's own rendering."""
    secret = "S3cretHost"
    egress = Egress(allow_private_network=False)
    shown = "https://${ENV:H}.invalid/x"
    unresolved = await egress.request(
        "POST", f"https://{secret}.invalid/x", project_id=None, shown_url=shown
    )
    refused = await egress.request(
        "POST", f"http://169.254.169.254/{secret}", project_id=None, shown_url=shown
    )
    await egress.close()
    open_egress = Egress(allow_private_network=True)
    unreachable = await open_egress.request(
        "POST", f"http://127.0.0.1:1/{secret}", project_id=None, shown_url=shown
    )
    await open_egress.close()
    for outcome in (unresolved, refused, unreachable):
        assert outcome.error is not None and secret.lower() not in outcome.error.lower()
        assert shown in outcome.error
    assert unresolved.kind == "retryable" and "cannot resolve the host of url" in unresolved.error
    assert refused.refused and "resolves to internal address" in refused.error
    assert unreachable.error.startswith("ConnectError (details withheld")
