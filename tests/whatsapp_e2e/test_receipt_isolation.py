"""A tenant cannot block or steer another tenant's delivery receipts (issue 8, item 1;
docs/security.md "Isolation"): receipts count once per project, not once per wamid, so a
hostile tenant that knows a victim's wamid and posts correctly signed statuses for it
from its own number neither changes the victim's message nor keeps the victim's real
receipts from being applied. Real HTTP through the webhook route, both databases."""

from __future__ import annotations

from typing import Any

from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.store.schema import executions, message_statuses, messages
from tests.whatsapp_e2e.conftest import USER, World
from tests.whatsapp_e2e.helpers import (
    THEIR_NUMBER,
    THEIR_SECRET,
    echo_start,
    inbound_flow,
    other_tenant,
    rows,
    sent_texts,
)
from tests.whatsapp_e2e.test_send_reconcile import (
    HOLD,
    LEASE,
    lost_attempt,
    outbox_row,
    settled_by_its_status,
    status_webhook,
    tracker_of,
)

FORGED = ("sent", "delivered", "read", "failed")


def forged_status(world: World, wamid: str, status: str) -> dict[str, Any]:
    """The hostile tenant's status for the victim's wamid, from its own number, echoing
    the victim's tracker (it carries the victim's execution id and outbox key)."""
    errors = [{"code": 131026, "title": "Message undeliverable"}] if status == "failed" else None
    return bodies.status_body(
        phone_number_id=THEIR_NUMBER, wamid=wamid, status=status, recipient_id=USER,
        timestamp=1_700_000_000, biz_opaque_callback_data=tracker_of(world, wamid),
        errors=errors,
    )  # fmt: skip


async def forge(world: World, them: World, wamid: str) -> None:
    for status in FORGED:
        response = await them.post_webhook(forged_status(world, wamid, status), secret=THEIR_SECRET)
        assert response.status_code == 200, response.text


async def test_forged_receipts_change_nothing_and_the_real_ones_still_apply(
    world: World,
) -> None:
    await inbound_flow(world, echo_start())
    world.fake.configure({"statuses": []})  # Meta's receipts are posted by hand below
    await world.say("hi")
    await world.settle()
    (mine,) = await rows(world, messages, direction="outbound")
    wamid = str(mine["provider_message_id"])
    assert mine["status"] == "sent"

    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        await forge(world, them, wamid)
        (after,) = await rows(world, messages, id=mine["id"])
        assert after["status"] == "sent" and after["error"] is None
        (execution,) = await rows(world, executions, project_id=world.project_id)
        assert execution["status"] == "waiting"  # the forged `failed` failed nothing

        for status in ("sent", "delivered"):
            response = await world.post_webhook(status_webhook(world, wamid, status))
            assert response.status_code == 200, response.text
        (after,) = await rows(world, messages, id=mine["id"])
        assert after["status"] == "delivered"  # before: dropped as duplicates of the forgeries

        detail = await world.get(f"/whatsapp/messages/{wamid}")
        shown = [s["status"] for s in detail["data"]["kapso"]["statuses"]]
        assert shown == ["sent", "delivered"]  # only the project's own receipts
        theirs = await rows(world, message_statuses, project_id=them.project_id)
        assert sorted(r["status"] for r in theirs) == sorted(FORGED)


async def test_forged_receipts_cannot_keep_a_lost_attempt_from_being_reconciled(
    world: World,
) -> None:
    await inbound_flow(world, echo_start())
    row, result = await lost_attempt(world, "hi")
    wamid = str(result.provider_message_id)
    world.clock.advance(LEASE + 1)  # the dispatcher that took it is gone
    await world.engine.dispatcher.run_once()
    assert (await outbox_row(world, row["id"]))["status"] == "uncertain"

    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        await forge(world, them, wamid)  # first, as a tenant racing Meta would
        assert (await outbox_row(world, row["id"]))["status"] == "uncertain"

        response = await world.post_webhook(status_webhook(world, wamid))
        assert response.status_code == 200, response.text
        (message,) = await rows(world, messages, outbox_id=row["id"])
        # The record caught up with the project's own `sent` only, not the forged `read`.
        assert message["status"] == "sent"
        await world.settle(HOLD + LEASE)
        await settled_by_its_status(world, row, result)
        assert sent_texts(world, USER) == ["got: hi"]
        (execution,) = await rows(world, executions, id=row["execution_id"])
        assert execution["status"] == "waiting"


async def test_another_tenants_message_with_my_wamid_cannot_hide_my_send(world: World) -> None:
    """Messages are unique per (project, wamid): a message another tenant stores under the
    victim's wamid (an inbound one to its own number, signed with its own secret) does not
    make the victim's record of its send a "redelivery" that is silently skipped."""
    await inbound_flow(world, echo_start())
    row, result = await lost_attempt(world, "hi")
    wamid = str(result.provider_message_id)
    world.clock.advance(LEASE + 1)
    await world.engine.dispatcher.run_once()

    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        planted = bodies.inbound_message_body(
            {"type": "text", "text": {"body": "planted"}},
            phone_number_id=THEIR_NUMBER, wa_id=USER, wamid=wamid, timestamp=1_700_000_000,
        )  # fmt: skip
        response = await them.post_webhook(planted, secret=THEIR_SECRET)
        assert response.status_code == 200, response.text
        (theirs,) = await rows(world, messages, project_id=them.project_id)
        assert theirs["provider_message_id"] == wamid

        response = await world.post_webhook(status_webhook(world, wamid))
        assert response.status_code == 200, response.text
        (mine,) = await rows(world, messages, outbox_id=row["id"])  # before: none
        assert (mine["project_id"], mine["provider_message_id"]) == (world.project_id, wamid)
        assert mine["status"] == "sent"
        detail = await world.get(f"/whatsapp/messages/{wamid}")
        assert detail["data"]["kapso"]["direction"] == "outbound"
        await world.settle(HOLD + LEASE)
        await settled_by_its_status(world, row, result)
