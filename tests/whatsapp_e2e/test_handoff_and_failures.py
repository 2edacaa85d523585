"""Handoff and failures over the WhatsApp channel, on both databases: a message racing a
handoff never makes the bot speak after the handoff; a human's reply goes out through
the same client and is recorded; Meta's `failed` receipts fail the flow with Meta's
reason (refusals in the send's answer: test_project_webhooks.py)."""

from __future__ import annotations

import asyncio

import httpx

from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.store.schema import execution_events, messages, outbox
from tests.whatsapp_e2e.conftest import NUMBER, USER, P, World
from tests.whatsapp_e2e.helpers import echo_start, executions_of, inbound_flow, rows, sent_texts


async def _handoff(world: World, execution_id: str) -> None:
    response = await world.api.patch(
        f"{P}/workflow_executions/{execution_id}",
        json={"workflow_execution": {"status": "handoff"}},
    )
    assert response.status_code == 200, response.text


async def _meta_proxy_text(world: World, body: str) -> httpx.Response:
    """A human's text to USER through Kapso's Meta-proxy path."""
    return await world.api.post(
        f"/meta/whatsapp/v24.0/{NUMBER}/messages",
        json={"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": body}},
    )


async def test_a_message_racing_a_handoff_never_makes_the_bot_speak_after_it(
    world: World,
) -> None:
    await inbound_flow(world, echo_start(), message_debounce_seconds=0)
    for attempt, delay in enumerate((0.0, 0.0, 0.005, 0.01, 0.02, 0.04, 0.08, 0.12)):
        user = f"1555100{attempt:04d}"
        await world.say("start", user=user)
        await world.settle(0)
        (execution,) = await executions_of(world, user)
        payload = bodies.inbound_message_body(
            {"type": "text", "text": {"body": f"race {attempt}"}}, phone_number_id=NUMBER,
            wa_id=user, wamid=f"wamid.RACE.{attempt}", timestamp=1700000000,
        )  # fmt: skip

        async def handoff(execution_id: str = execution["id"], delay: float = delay) -> None:
            await asyncio.sleep(delay)  # varies the interleaving; nothing asserts timing
            await _handoff(world, execution_id)

        async def work() -> None:
            for _ in range(15):
                await world.engine.worker.drain()
                await asyncio.sleep(0.01)

        await asyncio.gather(world.post_webhook(payload), handoff(), work())
        await world.settle(0)
        await world.say("after the handoff", user=user)
        await world.settle(0)

        (execution,) = await executions_of(world, user)
        assert execution["status"] == "handoff"
        timeline = await rows(world, execution_events, execution_id=execution["id"])
        (handoff_seq,) = [e["seq"] for e in timeline if e["event_type"] == "execution_handoff"]
        queued = await rows(world, outbox, execution_id=execution["id"])
        # Each outbox key is "<execution>:<event seq>": every send was decided before.
        assert all(int(r["idempotency_key"].rsplit(":", 1)[1]) < handoff_seq for r in queued)
        assert len(sent_texts(world, user)) == len(queued)
        kept = await rows(world, messages, direction="inbound", routing="handoff")
        assert "after the handoff" in [m["content"]["text"] for m in kept]


async def test_a_human_replies_during_handoff(world: World) -> None:
    await inbound_flow(world, echo_start())
    await world.say("I need a person")
    await world.settle()
    (execution,) = await executions_of(world, USER)
    await _handoff(world, execution["id"])
    await world.say("hello? anyone?")
    await world.settle()
    assert sent_texts(world, USER) == ["got: I need a person"]  # the bot stays silent
    conversation = execution["conversation_id"]
    reply = await world.api.post(
        f"{P}/whatsapp/messages",
        json={"conversation_id": conversation, "type": "text", "text": {"body": "Hi, Bea here"}},
    )
    assert reply.status_code == 201, reply.text
    view = reply.json()["data"]
    assert view["kapso"]["direction"] == "outbound" and view["text"] == {"body": "Hi, Bea here"}
    proxied = await _meta_proxy_text(world, "How can I help?")
    assert proxied.status_code == 200, proxied.text
    wamid = proxied.json()["messages"][0]["id"]
    await world.settle()
    assert sent_texts(world, USER)[1:] == ["Hi, Bea here", "How can I help?"]
    detail = await world.get(f"/whatsapp/messages/{wamid}")
    assert detail["data"]["kapso"]["status"] == "read"
    assert detail["data"]["kapso"]["whatsapp_conversation_id"] == conversation
    world.fake.force_error(131047, to=USER)
    refused = await _meta_proxy_text(world, "late")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 131047
    unknown = await world.api.post(
        f"{P}/whatsapp/messages", json={"phone_number_id": "999", "to": USER, "text": "x"}
    )
    assert unknown.status_code == 422 and unknown.json()["details"][0]["field"] == "phone_number_id"


async def test_a_failed_receipt_fails_the_flow_with_the_template_advice(world: World) -> None:
    await inbound_flow(world, echo_start())
    world.fake.force_error(131047, to=USER, mode="async")  # accepted, then `failed`
    await world.say("hi")
    await world.settle()
    (execution,) = await executions_of(world, USER)
    assert execution["status"] == "failed"
    message = execution["error_details"]["message"]
    assert "131047" in message and "template" in message
    (sent,) = await rows(world, messages, direction="outbound")
    assert sent["status"] == "failed" and sent["error"]["code"] == 131047


async def test_a_retryable_failed_receipt_is_only_recorded(world: World) -> None:
    await inbound_flow(world, echo_start())
    world.fake.configure({"statuses": []})
    await world.say("hi")
    await world.settle()
    (record,) = world.fake.records(kind="message")
    failed = bodies.status_body(
        phone_number_id=NUMBER, wamid=record["wamid"], status="failed", recipient_id=USER,
        timestamp=1700000000, errors=[bodies.meta_error(131000, "Something went wrong")],
    )  # fmt: skip
    assert (await world.post_webhook(failed)).status_code == 200
    (execution,) = await executions_of(world, USER)
    assert execution["status"] == "waiting"
    (sent,) = await rows(world, messages, direction="outbound")
    assert sent["status"] == "failed" and sent["error"]["code"] == 131000
