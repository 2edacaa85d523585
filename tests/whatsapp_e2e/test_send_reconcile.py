"""A send whose answer a crash lost, settled by Meta's status webhook or sent again
(docs/security.md "Sends after a crash"), on SQLite and PostgreSQL over loopback HTTP.

`lost_attempt` leaves exactly what a dispatcher killed between Meta's answer and its
record leaves: the attempt journaled (`sending`, with a lease) and the message accepted
by the (fake) Graph API, but no record of the answer."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping

from convoflow.channels.base import Delivery, SendResult
from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.engine.committer import AfterCommit
from convoflow.store import messages as message_store
from convoflow.store import outbox as outbox_store
from convoflow.store.schema import messages, outbox
from tests.support import events
from tests.whatsapp_e2e.conftest import NUMBER, USER, World, add_number
from tests.whatsapp_e2e.helpers import echo_start, inbound_flow, rows, sent_texts

LEASE = 60.0  # Settings.outbox_lease_seconds
HOLD = 30.0  # Settings.send_reconcile_seconds


async def claim_due(world: World) -> list[RowMapping]:
    """What a dispatcher's claim takes now (journal-before), without sending it."""
    now = world.clock.now()

    async def claim(conn: Any, _hooks: list[AfterCommit]) -> list[RowMapping]:
        return await outbox_store.claim_outbox(
            conn, now=now, lease_seconds=LEASE, limit=10,
            network_channels=["whatsapp"], reconcile_seconds=HOLD,
        )  # fmt: skip

    return await world.engine.runtime.committer.run(claim)


async def lost_attempt(world: World, text: str) -> tuple[RowMapping, SendResult]:
    """The user writes `text`; the flow queues its answer; a dispatcher claims it and
    Meta accepts it; then the dispatcher "dies" (records nothing)."""
    world.fake.configure({"statuses": []})  # Meta's statuses come later, if at all
    await world.say(text)
    world.clock.advance(1.0)  # the debounce window
    while await world.engine.worker.run_jobs_once():
        pass
    engine = world.engine
    (row,) = await claim_due(world)
    async with engine.db.read() as conn:
        conversation = await message_store.get_conversation(conn, row["conversation_id"])
    result = await engine.channels["whatsapp"].send(Delivery(row, conversation))
    assert result.status == "sent"
    return row, result


async def outbox_row(world: World, outbox_id: str) -> dict[str, Any]:
    (row,) = await rows(world, outbox, id=outbox_id)
    return row


async def crash_events(world: World, execution_id: str) -> list[dict[str, Any]]:
    return [
        e["payload"]
        for e in await events(world.engine, execution_id)
        if e["event_type"] == "action_performed" and "outcome" in e["payload"]
    ]


def tracker_of(world: World, wamid: str) -> str:
    """The biz_opaque_callback_data of a message the fake accepted."""
    (record,) = [r for r in world.fake.records(kind="message") if r["wamid"] == wamid]
    return str(record["body"]["biz_opaque_callback_data"])


def status_webhook(world: World, wamid: str, status: str = "sent") -> dict[str, Any]:
    """Meta's late status for a message the fake accepted, echoing its tracker."""
    return bodies.status_body(
        phone_number_id=NUMBER, wamid=wamid, status=status, recipient_id=USER,
        timestamp=1_700_000_000, biz_opaque_callback_data=tracker_of(world, wamid),
    )  # fmt: skip


async def test_a_status_carrying_the_key_settles_a_lost_attempt(world: World) -> None:
    await inbound_flow(world, echo_start())
    row, result = await lost_attempt(world, "hi")
    world.clock.advance(LEASE + 1)  # the dispatcher that took it is gone
    await world.engine.dispatcher.run_once()
    held = await outbox_row(world, row["id"])
    assert held["status"] == "uncertain"  # not sent again: Meta may have it
    assert sent_texts(world, USER) == ["got: hi"]

    response = await world.post_webhook(status_webhook(world, str(result.provider_message_id)))
    assert response.status_code == 200, response.text
    settled = await outbox_row(world, row["id"])
    assert (settled["status"], settled["provider_message_id"]) == (
        "sent",
        result.provider_message_id,
    )
    (message,) = await rows(world, messages, outbox_id=row["id"])
    assert message["provider_message_id"] == result.provider_message_id
    assert message["status"] == "sent"  # the status itself was applied too

    await world.settle(HOLD + LEASE)
    assert sent_texts(world, USER) == ["got: hi"]  # never twice
    (event,) = await crash_events(world, str(row["execution_id"]))
    assert event["outcome"] == "reconciled"
    assert event["idempotency_key"] == row["idempotency_key"]
    assert event["wamid"] == result.provider_message_id


async def test_without_a_status_the_attempt_is_sent_again_after_the_hold(world: World) -> None:
    await inbound_flow(world, echo_start())
    row, first = await lost_attempt(world, "hi")
    world.clock.advance(LEASE + 1)
    await world.engine.dispatcher.run_once()
    world.clock.advance(HOLD - 1)
    await world.engine.dispatcher.run_once()
    assert sent_texts(world, USER) == ["got: hi"]  # still waiting for Meta's word

    world.clock.advance(2)
    await world.engine.dispatcher.run_once()
    assert sent_texts(world, USER) == ["got: hi", "got: hi"]  # at-least-once
    sent = await outbox_row(world, row["id"])
    assert sent["status"] == "sent"
    assert sent["provider_message_id"] not in (None, first.provider_message_id)
    assert sent["uncertain_since"] is None
    (event,) = await crash_events(world, str(row["execution_id"]))
    assert event["outcome"] == "resent_after_crash"
    (message,) = await rows(world, messages, outbox_id=row["id"])
    assert message["provider_message_id"] == sent["provider_message_id"]


async def test_a_slow_live_dispatchers_answer_wins_over_the_hold(world: World) -> None:
    """A dispatcher that outlived its lease still records its attempt: the row held as
    uncertain takes that result and is never sent again."""
    await inbound_flow(world, echo_start())
    row, result = await lost_attempt(world, "hi")
    world.clock.advance(LEASE / 2)
    await world.engine.dispatcher.run_once()
    assert (await outbox_row(world, row["id"]))["status"] == "sending"  # its lease holds
    world.clock.advance(LEASE)
    await world.engine.dispatcher.run_once()
    assert (await outbox_row(world, row["id"]))["status"] == "uncertain"

    async with world.engine.db.read() as conn:
        conversation = await message_store.get_conversation(conn, row["conversation_id"])
    await world.engine.dispatcher._record(Delivery(row, conversation), result)
    await world.settle(HOLD + LEASE)
    assert sent_texts(world, USER) == ["got: hi"]
    recorded = await outbox_row(world, row["id"])
    assert (recorded["status"], recorded["provider_message_id"]) == (
        "sent",
        result.provider_message_id,
    )
    assert await crash_events(world, str(row["execution_id"])) == []


async def test_another_tenants_status_cannot_settle_our_attempt(world: World) -> None:
    """Tenant B signs, with its own number's secret, a status naming our outbox key: it
    must not stop our resend (nor record anything of ours)."""
    from tests.api.conftest import new_project

    other_number, other_secret = "100000000000999", "tenant-b-secret"
    other_project, _key = await new_project(world.engine, "b", allow_private_network=True)
    await add_number(
        world.engine, other_project, phone_number_id=other_number, app_secret=other_secret
    )
    await inbound_flow(world, echo_start())
    row, result = await lost_attempt(world, "hi")
    world.clock.advance(LEASE + 1)
    await world.engine.dispatcher.run_once()

    payload = bodies.status_body(
        phone_number_id=other_number, wamid="wamid.FORGED", status="sent",
        recipient_id=USER, timestamp=1_700_000_000,
        biz_opaque_callback_data=tracker_of(world, str(result.provider_message_id)),
    )  # fmt: skip
    response = await world.post_webhook(payload, secret=other_secret)
    assert response.status_code == 200, response.text
    assert (await outbox_row(world, row["id"]))["status"] == "uncertain"
    assert await rows(world, messages, provider_message_id="wamid.FORGED") == []

    world.clock.advance(HOLD + 1)
    await world.engine.dispatcher.run_once()
    assert sent_texts(world, USER) == ["got: hi", "got: hi"]


async def test_a_status_arriving_after_the_hold_stops_the_claimed_resend(world: World) -> None:
    """The hold ran out and a dispatcher claimed the resend; the lost attempt's status
    arrives before that dispatcher calls Meta: the status records the row and the resend
    is dropped, not sent."""
    await inbound_flow(world, echo_start())
    row, first = await lost_attempt(world, "hi")
    world.clock.advance(LEASE + 1)
    await world.engine.dispatcher.run_once()  # held as uncertain
    world.clock.advance(HOLD + 1)
    engine = world.engine
    (resend,) = await claim_due(world)
    assert resend["uncertain_since"] is not None and resend["attempts"] == 2

    response = await world.post_webhook(status_webhook(world, str(first.provider_message_id)))
    assert response.status_code == 200, response.text
    async with engine.db.read() as conn:
        conversation = await message_store.get_conversation(conn, resend["conversation_id"])
    await engine.dispatcher._deliver(Delivery(resend, conversation))

    assert sent_texts(world, USER) == ["got: hi"]  # never twice
    settled = await outbox_row(world, row["id"])
    assert (settled["status"], settled["provider_message_id"]) == (
        "sent",
        first.provider_message_id,
    )
    (event,) = await crash_events(world, str(row["execution_id"]))
    assert event["outcome"] == "reconciled"
