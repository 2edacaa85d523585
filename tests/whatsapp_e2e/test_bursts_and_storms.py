"""Inbound robustness, on both databases: a burst from one user becomes one input (the
debounce); Meta's redeliveries and out-of-order receipts change nothing twice."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.store.schema import message_statuses, messages, outbox
from tests.whatsapp_e2e.conftest import NUMBER, USER, World
from tests.whatsapp_e2e.helpers import (
    echo_start,
    executions_of,
    inbound_flow,
    input_message_ids,
    rows,
    sent_texts,
)


async def test_a_burst_of_ten_starts_one_execution_with_the_inputs_in_order(world: World) -> None:
    await inbound_flow(world, echo_start())
    wamids = []
    for index in range(10):  # ten messages within 50 ms of the FakeClock
        wamids.append(await world.say(f"part {index}"))
        world.clock.advance(0.005)
    await world.settle()
    (execution,) = await executions_of(world, USER)
    assert execution["context"]["vars"]["last_user_input"] == "\n".join(
        f"part {i}" for i in range(10)
    )
    assert await input_message_ids(world, execution["id"]) == []  # taken at the start
    assert sent_texts(world, USER) == ["got: " + "\n".join(f"part {i}" for i in range(10))]
    assert {r["routing"] for r in await rows(world, messages, direction="inbound")} == {"consumed"}


async def test_a_concurrent_burst_while_waiting_is_one_resume(world: World) -> None:
    await inbound_flow(world, echo_start())
    await world.say("first")
    await world.settle()
    wamids = await asyncio.gather(*(world.say(f"burst {i}") for i in range(10)))
    await world.settle()
    (execution,) = await executions_of(world, USER)
    assert sorted(await input_message_ids(world, execution["id"])) == sorted(wamids)
    first, burst = sent_texts(world, USER)
    assert first == "got: first"
    assert sorted(burst.removeprefix("got: ").split("\n")) == sorted(
        f"burst {i}" for i in range(10)
    )


def _inbound(user: str, wamid: str, text: str) -> dict[str, Any]:
    return bodies.inbound_message_body(
        {"type": "text", "text": {"body": text}},
        phone_number_id=NUMBER, wa_id=user, wamid=wamid, timestamp=1700000000, name=user,
    )  # fmt: skip


def _receipts(world: World, rng: random.Random) -> list[dict[str, Any]]:
    """sent/delivered/read for every accepted send, each 1-3 times."""
    out = []
    for record in world.fake.records(kind="message"):
        if record["http_status"] != 200:
            continue
        for status in ("sent", "delivered", "read"):
            body = bodies.status_body(
                phone_number_id=NUMBER, wamid=record["wamid"], status=status,
                recipient_id=record["to"], timestamp=1700000000,
            )  # fmt: skip
            out += [body] * rng.randint(1, 3)
    return out


async def test_duplicate_storm(world: World) -> None:
    """Each inbound webhook 1-3 times, shuffled with receipts in any order and late
    redeliveries of earlier rounds: every input is taken once, every message is sent
    once, and every message ends `read`."""
    await inbound_flow(world, echo_start())
    world.fake.configure({"statuses": []})  # receipts come from this test, out of order
    rng = random.Random(20260101)
    users = [f"1555000{n:04d}" for n in range(4)]
    sent_so_far: list[dict[str, Any]] = []
    inbound: dict[str, list[str]] = {user: [] for user in users}
    for round_ in range(4):
        batch: list[dict[str, Any]] = []
        for user in users:
            wamid = f"wamid.STORM.{round_}.{user}"
            inbound[user].append(wamid)
            payload = _inbound(user, wamid, f"round {round_}")
            batch += [payload] * rng.randint(1, 3)
            sent_so_far.append(payload)
        batch += rng.sample(sent_so_far, min(3, len(sent_so_far)))  # late redeliveries
        batch += _receipts(world, rng)
        rng.shuffle(batch)
        responses = await asyncio.gather(*(world.post_webhook(p) for p in batch))
        assert {r.status_code for r in responses} == {200}
        await world.settle()
    final = _receipts(world, rng)
    rng.shuffle(final)
    assert {r.status_code for r in await asyncio.gather(*map(world.post_webhook, final))} == {200}
    await world.settle()

    for user in users:
        (execution,) = await executions_of(world, user)
        taken = await input_message_ids(world, execution["id"])
        assert len(taken) == len(set(taken)), "an input was processed twice"
        assert set(taken) | {inbound[user][0]} == set(inbound[user])  # the start took round 0
        assert len(sent_texts(world, user)) == len(taken) + 1
    stored = await rows(world, messages, direction="inbound")
    assert sorted(r["provider_message_id"] for r in stored) == sorted(
        w for ws in inbound.values() for w in ws
    )
    sends = [r for r in world.fake.records(kind="message") if r["http_status"] == 200]
    assert len(sends) == len(await rows(world, outbox)), "a message was sent twice"
    outbound = await rows(world, messages, direction="outbound")
    assert sorted(r["provider_message_id"] for r in outbound) == sorted(r["wamid"] for r in sends)
    assert {r["status"] for r in outbound} == {"read"}
    for record in sends:
        statuses = await rows(world, message_statuses, provider_message_id=record["wamid"])
        assert sorted(s["status"] for s in statuses) == ["delivered", "read", "sent"]


async def test_statuses_never_move_a_message_backwards(world: World) -> None:
    await inbound_flow(world, echo_start())
    world.fake.configure({"statuses": []})
    await world.say("hi")
    await world.settle()
    (record,) = world.fake.records(kind="message")
    for status in ("read", "sent", "delivered", "failed"):
        body = bodies.status_body(
            phone_number_id=NUMBER, wamid=record["wamid"], status=status,
            recipient_id=USER, timestamp=1700000000,
        )  # fmt: skip
        assert (await world.post_webhook(body)).status_code == 200
        (message,) = await rows(world, messages, provider_message_id=record["wamid"])
        assert message["status"] == "read"
    (execution,) = await executions_of(world, USER)
    assert execution["status"] == "waiting"  # statuses never start, resume or fail a flow here
