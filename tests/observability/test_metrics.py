"""`GET /metrics`: what it counts, and who may read it (issue 8, item 4)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from convoflow.api.app import create_app
from convoflow.config import Settings
from convoflow.process import build_process
from tests.observability.server import free_port
from tests.support import node
from tests.whatsapp.conftest import Receiver
from tests.whatsapp_e2e.conftest import USER, World
from tests.whatsapp_e2e.helpers import inbound_flow

P = "/platform/v1"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(world: World) -> Samples:
    response = await world.api.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def _waiting_echo() -> dict[str, Any]:
    """start -> "hello" -> wait (10-minute timeout) -> echo -> end."""
    from tests.support import chain

    return chain(
        node("start", "start"),
        node("hello", "send_text", message="hello"),
        node("wait", "wait_for_response", has_timeout=True, timeout_seconds=600),
        node("echo", "send_text", message="got: {{vars.last_user_input}}"),
    )


async def test_metrics_count_what_happens(world: World, receiver: Receiver) -> None:
    await inbound_flow(world, _waiting_echo(), message_debounce_seconds=0)
    receiver.status_code = 500
    hook = {"url": receiver.url, "events": ["whatsapp.message.received"], "secret_key": "k"}
    response = await world.api.post(f"{P}/whatsapp/webhooks", json={"whatsapp_webhook": hook})
    assert response.status_code == 201, response.text

    await world.say("hi")
    await world.settle()
    first = await scrape(world)
    assert value(first, "convoflow_executions", status="waiting") == 1
    assert value(first, "convoflow_jobs", kind="timer") == 1
    assert value(first, "convoflow_jobs_due", kind="timer") == 0
    assert value(first, "convoflow_jobs_oldest_due_seconds", kind="timer") == 0
    assert value(first, "convoflow_sends_total", channel="whatsapp", result="sent") == 1
    assert value(first, "convoflow_advances_total") >= 1
    assert value(first, "convoflow_advance_seconds_count") >= 1
    # The inbound message and the sent message's status webhooks, all acknowledged.
    assert value(first, "convoflow_whatsapp_webhook_ack_seconds_count", status="200") >= 2
    assert value(first, "convoflow_project_webhook_delivery_failures_total", final="false") == 1
    assert value(first, "convoflow_outbox_unsent") == 0

    # The timer was set when the webhook routed "hi" (in its own transaction), before
    # settle's 1 s: 700 s later it is due for 101 s and no worker took it, which is what
    # the gauge shows.
    world.clock.advance(700)
    late = await scrape(world)
    assert value(late, "convoflow_jobs_due", kind="timer") == 1
    assert value(late, "convoflow_jobs_oldest_due_seconds", kind="timer") == 101

    # The reply's send meets Meta's pair rate limit (131056, retried later): counted by
    # code, and the message waits in the outbox, which the lag shows: queued when the
    # webhook routed "again", 1 s (settle) + 2 s before the scrape.
    world.clock.advance(-700)
    world.fake.force_error(131056, to=USER)
    await world.say("again")
    await world.settle()
    world.clock.advance(2)
    failed = await scrape(world)
    assert value(failed, "convoflow_graph_api_errors_total", code="131056") == 1
    assert value(failed, "convoflow_sends_total", channel="whatsapp", result="retry") == 1
    assert value(failed, "convoflow_outbox_unsent") == 1
    assert value(failed, "convoflow_outbox_lag_seconds") == 3
    assert value(failed, "convoflow_advances_total") > value(first, "convoflow_advances_total")


async def test_every_series_is_there_from_the_start(db_url: str) -> None:
    """A fresh server: executions of every status, the queue of every job kind and the
    project-webhook failures are series at 0, not missing until they first move (a
    missing series cannot be graphed, alerted on, or `rate()`d from its first change)."""
    engine = build_process(db_url, settings=Settings(), pool_size=2)
    try:
        response = await _get(create_app(engine, run_worker=False), ("127.0.0.1", 5000))
    finally:
        await engine.close()
    samples = parse(response.text)
    for status in ("running", "waiting", "ended", "failed", "handoff"):
        assert samples[("convoflow_executions", (("status", status),))] == 0
    for kind in ("timer", "action", "route_conversation", "webhook_delivery"):
        labels = (("kind", kind),)
        assert samples[("convoflow_jobs", labels)] == 0
        assert samples[("convoflow_jobs_due", labels)] == 0
        assert samples[("convoflow_jobs_oldest_due_seconds", labels)] == 0
    for final in ("true", "false"):
        failures = ("convoflow_project_webhook_delivery_failures_total", (("final", final),))
        assert samples[failures] == 0
    assert samples[("convoflow_outbox_lag_seconds", ())] == 0
    assert samples[("convoflow_advance_seconds_count", ())] == 0


async def _get(app: Any, client: tuple[str, int], **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://convoflow") as http:
        return await http.get("/metrics", headers=headers)


async def test_metrics_are_loopback_only_without_a_token(db_url: str) -> None:
    engine = build_process(db_url, settings=Settings(), pool_size=2)
    try:
        app = create_app(engine, run_worker=False)
        assert (await _get(app, ("127.0.0.1", 5000))).status_code == 200
        assert (await _get(app, ("::1", 5000))).status_code == 200
        # Served on `::`, an IPv4 loopback client is ::ffff:127.0.0.1.
        assert (await _get(app, ("::ffff:127.0.0.1", 5000))).status_code == 200
        assert (await _get(app, ("::ffff:203.0.113.9", 5000))).status_code == 403
        remote = await _get(app, ("203.0.113.9", 5000))
        assert remote.status_code == 403
        assert "CONVOFLOW_METRICS_TOKEN" in remote.json()["error"]
        # A bearer token means nothing when none is configured.
        spoofed = await _get(app, ("203.0.113.9", 5000), authorization="Bearer anything")
        assert spoofed.status_code == 403
    finally:
        await engine.close()


async def test_metrics_token_is_required_of_every_client(db_url: str) -> None:
    engine = build_process(db_url, settings=Settings(metrics_token="scrape-me"), pool_size=2)
    try:
        app = create_app(engine, run_worker=False)
        remote = ("198.51.100.4", 5000)
        assert (await _get(app, remote, authorization="Bearer scrape-me")).status_code == 200
        wrong = await _get(app, remote, authorization="Bearer scrape-you")
        assert wrong.status_code == 401 and "Bearer" in wrong.json()["error"]
        # Loopback too: behind a reverse proxy on the same host, everyone is loopback.
        assert (await _get(app, ("127.0.0.1", 5000))).status_code == 401
        assert (await _get(app, remote, authorization="scrape-me")).status_code == 401
    finally:
        await engine.close()


def test_a_worker_serves_its_counters_on_loopback(db_url: str, tmp_path: Path) -> None:
    """`convoflow worker --metrics-port`: a worker process has no API, but its sends and
    Graph errors are counted in its memory; they are scraped from it directly."""
    port = free_port()
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "convoflow", "worker", "--metrics-port", str(port)],
        env={**os.environ, "CONVOFLOW_DATABASE_URL": db_url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
                break
            except httpx.HTTPError:
                assert worker.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        samples = parse(response.text)
        assert ("convoflow_advances_total", ()) in samples
        assert ("convoflow_sends_total", (("channel", "whatsapp"), ("result", "sent"))) not in (
            samples
        )  # nothing sent yet: a labelled counter appears with its first event
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        log.close()
