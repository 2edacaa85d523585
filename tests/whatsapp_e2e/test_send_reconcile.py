"""A send whose answer a crash lost, settled by Meta's status webhook or sent again
(docs/security.md "Sends after a crash"), on SQLite and PostgreSQL over loopback HTTP.

`lost_attempt` leaves exactly what a dispatcher killed between Meta's answer and its
record leaves: the attempt journaled (`sending`, with a lease) and the message accepted
by the (fake) Graph API, but no record of the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.engine import RowMapping

from convoflow.api.app import create_app
from convoflow.channels.base import Delivery, SendResult
from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.config import Settings
from convoflow.engine.committer import AfterCommit
from convoflow.process import Process, build_process
from convoflow.store import messages as message_store
from convoflow.store import outbox as outbox_store
from convoflow.store.schema import messages, outbox
from tests.api.conftest import serve
from tests.observability.test_metrics import parse, value
from tests.support import events
from tests.whatsapp_e2e.conftest import APP_SECRET, NUMBER, USER, World, add_number
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


async def settled_by_its_status(world: World, row: RowMapping, first: SendResult) -> None:
    """The lost attempt was recorded from its status: sent once, with the wamid Meta
    gave it, and the execution says `reconciled`."""
    assert sent_texts(world, USER) == ["got: hi"]  # never twice
    settled = await outbox_row(world, row["id"])
    assert (settled["status"], settled["provider_message_id"]) == (
        "sent",
        first.provider_message_id,
    )
    (event,) = await crash_events(world, str(row["execution_id"]))
    assert event["outcome"] == "reconciled"


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

    await settled_by_its_status(world, row, first)


@asynccontextmanager
async def server_started(
    world: World, settings: Settings | None = None
) -> AsyncIterator[tuple[Process, httpx.AsyncClient]]:
    """A new server process on the same database and clock, as one comes up after the
    last one was killed: its app's start-up runs (uvicorn lifespan); its worker is driven
    by the test, like the World's. Yields it and a client of its app."""
    engine = build_process(
        world.engine.db.url, clock=world.clock,
        settings=settings or world.engine.runtime.settings, pool_size=5,
    )  # fmt: skip
    try:
        async with (
            serve(create_app(engine, run_worker=False)) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as http,
        ):
            yield engine, http
    finally:
        await engine.close()


async def post_signed(http: httpx.AsyncClient, payload: Any) -> httpx.Response:
    raw, headers = bodies.signed(payload, APP_SECRET)
    return await http.post("/webhooks/whatsapp", content=raw, headers=headers)


async def uncertain_gauge(http: httpx.AsyncClient) -> float:
    response = await http.get("/metrics")  # loopback: no token needed
    assert response.status_code == 200, response.text
    return value(parse(response.text), "convoflow_outbox_uncertain")


async def held_while_down(world: World, text: str) -> tuple[RowMapping, SendResult]:
    """A lost attempt, found and held as uncertain; then no server is up for three
    holds (a kill storm, an outage): its hold as first set runs out meanwhile."""
    row, result = await lost_attempt(world, text)
    world.clock.advance(LEASE + 1)
    await world.engine.dispatcher.run_once()
    assert (await outbox_row(world, row["id"]))["status"] == "uncertain"
    world.clock.advance(3 * HOLD)
    return row, result


async def test_the_hold_counts_from_the_next_start_up(world: World) -> None:
    """A status can reach us only while a server is up: the one that starts after the
    outage holds the attempt for the whole hold, and its status settles it then."""
    await inbound_flow(world, echo_start())
    row, first = await held_while_down(world, "hi")
    async with server_started(world) as (engine, http):
        world.clock.advance(HOLD - 1)
        await engine.dispatcher.run_once()
        assert sent_texts(world, USER) == ["got: hi"]  # before: sent again at start-up
        assert await uncertain_gauge(http) == 1

        response = await post_signed(http, status_webhook(world, str(first.provider_message_id)))
        assert response.status_code == 200, response.text
        assert await uncertain_gauge(http) == 0
        world.clock.advance(2 + LEASE)
        await engine.worker.drain()
    await settled_by_its_status(world, row, first)


async def test_without_a_status_it_is_sent_again_a_hold_after_the_start_up(world: World) -> None:
    """No status comes: sent again once the hold from the start-up is over. A message
    that was simply due while no server was up is sent at once: only uncertain
    attempts are held."""
    await inbound_flow(world, echo_start())
    row, first = await held_while_down(world, "hi")
    other = "15550002222"
    await world.say("hello", user=other)
    world.clock.advance(1.0)  # the debounce window
    while await world.engine.worker.run_jobs_once():
        pass  # its answer is queued, due now
    async with server_started(world) as (engine, _http):
        await engine.dispatcher.run_once()
        assert sent_texts(world, other) == ["got: hello"]
        world.clock.advance(HOLD - 1)
        await engine.dispatcher.run_once()
        assert sent_texts(world, USER) == ["got: hi"]

        world.clock.advance(2)
        await engine.dispatcher.run_once()
    assert sent_texts(world, USER) == ["got: hi", "got: hi"]  # at-least-once
    sent = await outbox_row(world, row["id"])
    assert sent["status"] == "sent"
    assert sent["provider_message_id"] not in (None, first.provider_message_id)
    (event,) = await crash_events(world, str(row["execution_id"]))
    assert event["outcome"] == "resent_after_crash"


async def test_a_start_up_delays_a_hold_by_at_most_the_hold_and_never_shortens_one(
    world: World,
) -> None:
    """On PostgreSQL any server's start holds every process's uncertain attempts: one
    held until T is then due at max(T, start + hold)."""
    await inbound_flow(world, echo_start())
    row, _first = await lost_attempt(world, "hi")
    world.clock.advance(LEASE + 1)
    await world.engine.dispatcher.run_once()
    held_until = (await outbox_row(world, row["id"]))["next_attempt_at"]

    world.clock.advance(10)
    async with server_started(world):
        pass
    later = (await outbox_row(world, row["id"]))["next_attempt_at"]
    assert later == world.clock.now() + timedelta(seconds=HOLD)
    assert later - held_until == timedelta(seconds=10)

    # A server configured with a shorter hold brings nothing forward.
    shorter = world.engine.runtime.settings.model_copy(update={"send_reconcile_seconds": 5.0})
    async with server_started(world, shorter):
        pass
    assert (await outbox_row(world, row["id"]))["next_attempt_at"] == later
