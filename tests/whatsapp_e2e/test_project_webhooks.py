"""Project webhooks (outbound from convoflow), on both databases: CRUD in Kapso's shape,
workflow handoff/failure and conversation events with their payloads, HMAC signatures,
durable retries at 10 s / 40 s / 90 s (FakeClock), the delivery log; and
`whatsapp_event` triggers starting observer executions."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from convoflow.store.schema import conversations, executions, jobs, projects
from tests.support import chain, node
from tests.whatsapp.conftest import Receiver
from tests.whatsapp_e2e.conftest import NUMBER, USER, P, World
from tests.whatsapp_e2e.helpers import echo_start, executions_of, inbound_flow, rows

HANDOFF_FLOW = chain(
    node("start", "start"),
    node("notice", "send_text", message="Connecting you to a person"),
    node("human", "handoff", reason="asked for a human"),
)


async def _webhook(world: World, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    body = {"whatsapp_webhook": {"url": url, "events": events, "secret_key": "s3cr3t", **extra}}
    response = await world.api.post(f"{P}/whatsapp/webhooks", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["data"]
    return created


async def test_webhook_crud(world: World, receiver: Receiver) -> None:
    created = await _webhook(world, receiver.url, ["workflow.execution.failed"])
    assert created["kind"] == "kapso" and created["active"] is True
    assert created["secret_key"] == "s3cr3t" and created["payload_version"] == "v2"
    bad = await world.api.post(
        f"{P}/whatsapp/webhooks",
        json={"whatsapp_webhook": {"url": "ftp://x", "events": ["nope"], "kind": "meta"}},
    )
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.json()["details"]}
    assert fields == {"whatsapp_webhook.url", "whatsapp_webhook.events[0]", "whatsapp_webhook.kind"}
    other = await world.api.post(
        f"{P}/whatsapp/webhooks",
        json={"whatsapp_webhook": {"url": receiver.url, "events": ["whatsapp.message.received"],
                                   "phone_number_id": "404"}},
    )  # fmt: skip
    assert other.status_code == 422 and "404 is not configured" in other.text
    patched = await world.api.patch(
        f"{P}/whatsapp/webhooks/{created['id']}",
        json={"whatsapp_webhook": {"active": False, "events": ["workflow.execution.handoff"]}},
    )
    assert patched.json()["data"]["active"] is False
    assert patched.json()["data"]["events"] == ["workflow.execution.handoff"]
    listed = await world.get("/whatsapp/webhooks")
    assert [w["id"] for w in listed["data"]] == [created["id"]]
    assert listed["meta"] == {"page": 1, "per_page": 20, "total_pages": 1, "total_count": 1}
    assert (await world.api.delete(f"{P}/whatsapp/webhooks/{created['id']}")).status_code == 204
    assert (await world.api.get(f"{P}/whatsapp/webhooks/{created['id']}")).status_code == 404


async def test_handoff_event_is_retried_durably_then_delivered(
    world: World, receiver: Receiver
) -> None:
    hook = await _webhook(world, receiver.url, ["workflow.execution.handoff"])
    await inbound_flow(world, HANDOFF_FLOW)
    receiver.status_code = 500
    await world.say("a person please")
    await world.settle()
    assert len(receiver.hits) == 1
    for wait, hits in ((9, 1), (1, 2), (39, 2), (1, 3)):  # retry 1 at +10 s, 2 at +40 s
        await world.settle(wait)
        assert len(receiver.hits) == hits
    receiver.status_code = 200
    await world.settle(90)  # retry 3 at +90 s
    assert len(receiver.hits) == 4
    keys = {hit.headers["x-idempotency-key"] for hit in receiver.hits}
    assert len(keys) == 1  # one delivery, four attempts
    hit = receiver.hits[-1]
    assert hit.headers["x-webhook-event"] == "workflow.execution.handoff"
    expected = hmac.new(b"s3cr3t", hit.body, hashlib.sha256).hexdigest()
    assert hit.headers["x-webhook-signature"] == expected
    payload = json.loads(hit.body)
    (execution,) = await executions_of(world, USER)
    assert payload == {
        "event": "workflow.execution.handoff",
        "occurred_at": payload["occurred_at"],
        "project_id": world.project_id,
        "workflow_id": execution["workflow_id"],
        "workflow_execution_id": execution["id"],
        "status": "handoff",
        "tracking_id": execution["tracking_id"],
        "channel": "whatsapp",
        "whatsapp_conversation_id": execution["conversation_id"],
        "handoff": {"reason": "asked for a human", "source": "action_step"},
    }
    log = await world.get("/webhook_deliveries", webhook_id=hook["id"])
    (delivery,) = log["data"]
    assert (delivery["status"], delivery["attempt_count"]) == ("delivered", 4)
    assert delivery["response_status"] == 200 and delivery["conversation_phone_number"] == USER


async def test_a_delivery_that_keeps_failing_ends_failed(world: World, receiver: Receiver) -> None:
    await _webhook(world, receiver.url, ["workflow.execution.handoff"])
    await inbound_flow(world, HANDOFF_FLOW)
    receiver.status_code = 503
    await world.say("help")
    for wait in (1, 10, 40, 90, 600):
        await world.settle(wait)
    assert len(receiver.hits) == 4
    (delivery,) = (await world.get("/webhook_deliveries", errors_only="true"))["data"]
    assert delivery["status"] == "failed" and delivery["attempt_count"] == 4
    assert delivery["last_error"] == "the endpoint answered HTTP 503"


async def test_a_delivery_the_ssrf_guard_refuses_fails_at_once(
    world: World, receiver: Receiver
) -> None:
    """A loopback target is refused by the guard: one attempt, failed with the reason,
    never retried (a retry cannot change the answer)."""
    await _webhook(world, receiver.url, ["workflow.execution.handoff"])
    await inbound_flow(world, HANDOFF_FLOW)

    async def forbid_private(adv: Any) -> None:
        await adv.conn.execute(
            projects.update().where(projects.c.id == world.project_id).values(settings={})
        )

    await world.engine.runtime.op(forbid_private)
    await world.say("help")
    await world.settle()
    (delivery,) = (await world.get("/webhook_deliveries", errors_only="true"))["data"]
    assert delivery["status"] == "failed" and delivery["attempt_count"] == 1
    assert delivery["last_error"].startswith("refused by the SSRF guard: url host '127.0.0.1'")
    sample = world.engine.runtime.metrics.registry.get_sample_value
    assert sample("convoflow_project_webhook_delivery_failures_total", {"final": "true"}) == 1
    for wait in (10, 40, 90, 600):
        await world.settle(wait)
    assert receiver.hits == []
    (again,) = (await world.get("/webhook_deliveries", errors_only="true"))["data"]
    assert again["attempt_count"] == 1
    async with world.engine.runtime.db.read() as conn:
        assert (await conn.execute(jobs.select())).first() is None


async def test_failed_execution_and_conversation_events(world: World, receiver: Receiver) -> None:
    events = ["workflow.execution.failed", "whatsapp.conversation.created",
              "whatsapp.conversation.ended"]  # fmt: skip
    await _webhook(world, receiver.url, events)
    failing = chain(
        node("start", "start"),
        node("call", "webhook", url=receiver.url, max_attempts=1),
    )
    await inbound_flow(world, failing)
    receiver.status_code = 404  # the flow's webhook node fails on a 4xx
    await world.say("go")
    await world.settle()
    receiver.status_code = 200
    await world.settle(10)
    # The receiver refused the first attempts too (404): one delivery per event, retried.
    deliveries = {
        h.headers["x-idempotency-key"]: h for h in receiver.hits if h.headers.get("x-webhook-event")
    }
    names = sorted(h.headers["x-webhook-event"] for h in deliveries.values())
    assert names == ["whatsapp.conversation.created", "workflow.execution.failed"]
    failed = next(json.loads(h.body) for h in deliveries.values()
                  if h.headers["x-webhook-event"] == "workflow.execution.failed")  # fmt: skip
    assert failed["status"] == "failed" and "404" in failed["error"]["message"]
    (conversation,) = await rows(world, conversations)
    ended = await world.api.patch(
        f"{P}/whatsapp/conversations/{conversation['id']}",
        json={"whatsapp_conversation": {"status": "ended"}},
    )
    assert ended.status_code == 200 and ended.json()["data"]["status"] == "ended"
    await world.settle()
    assert [h.headers.get("x-webhook-event") for h in receiver.hits][-1] == (
        "whatsapp.conversation.ended"
    )
    await world.say("hello again")  # a new conversation for the same user
    await world.settle()
    assert len(await rows(world, conversations)) == 2
    reopen = await world.api.patch(
        f"{P}/whatsapp/conversations/{conversation['id']}",
        json={"whatsapp_conversation": {"status": "active"}},
    )
    assert reopen.status_code == 409


async def test_number_scoped_webhooks_and_test_deliveries(world: World, receiver: Receiver) -> None:
    await inbound_flow(world, echo_start())
    scoped = await _webhook(
        world, receiver.url, ["whatsapp.message.received"], phone_number_id=NUMBER
    )
    await world.say("hi")
    await world.settle()
    assert [h.headers["x-webhook-event"] for h in receiver.hits] == ["whatsapp.message.received"]
    test = await world.api.post(f"{P}/whatsapp/webhooks/{scoped['id']}/test", json={})
    assert test.status_code == 200
    await world.settle()
    assert json.loads(receiver.hits[-1].body)["test"] is True
    refused = await world.api.post(
        f"{P}/whatsapp/webhooks/{scoped['id']}/test", json={"event_type": "whatsapp.message.read"}
    )
    assert refused.status_code == 422


async def test_whatsapp_event_triggers_start_observers(world: World) -> None:
    main_id = await inbound_flow(world, echo_start())
    observer_flow = chain(node("start", "start"), node("note", "send_text", message="seen"))
    trigger = {"trigger_type": "whatsapp_event", "event": "whatsapp.message.received",
               "phone_number_id": NUMBER}  # fmt: skip
    observer = await inbound_flow(world, observer_flow, name="Observer", trigger=trigger)
    wamid = await world.say("watch me")
    await world.settle()
    started = await rows(world, executions, workflow_id=observer)
    (run,) = started
    assert run["observer"] is True and run["trigger_type"] == "whatsapp_event"
    event = run["context"]["system"]["event"]
    assert event["event"] == "whatsapp.message.received" and event["message"]["id"] == wamid
    (main,) = await rows(world, executions, workflow_id=main_id)
    assert main["status"] == "waiting"
    assert [r["body"]["text"]["body"] for r in world.fake.records(type="text")] == ["got: watch me"]


async def test_a_send_refused_in_the_graph_answer_fails_the_flow_and_the_message(
    world: World, receiver: Receiver
) -> None:
    # No receipt ever comes for a send Meta refused synchronously: convoflow itself records
    # the failed outbound message and publishes whatsapp.message.failed, once.
    await _webhook(world, receiver.url, ["whatsapp.message.failed"])
    await inbound_flow(world, echo_start())
    world.fake.force_error(131026, to=USER)
    await world.say("hi")
    await world.settle()
    (execution,) = await executions_of(world, USER)
    assert execution["status"] == "failed"
    assert "undeliverable" in execution["error_details"]["message"]
    listed = await world.get("/whatsapp/messages", direction="outbound")
    (message,) = listed["data"]
    assert message["kapso"]["status"] == "failed"
    assert message["kapso"]["error"]["code"] == 131026
    assert message["kapso"]["execution_id"] == execution["id"]
    assert message["text"]["body"] == "got: hi"
    (hit,) = receiver.hits
    assert hit.headers["x-webhook-event"] == "whatsapp.message.failed"
    payload = json.loads(hit.body)
    assert payload["phone_number_id"] == NUMBER
    assert payload["message"]["kapso"]["status"] == "failed"
    assert payload["conversation"]["id"] == execution["conversation_id"]
