"""Project-webhook events: which webhooks want an event, and the delivery rows + jobs
that carry it. Called inside the transaction of the event itself (an inbound message, a
status, a handoff), so an event is never lost nor delivered for a rolled-back change.

Scoping (docs/whatsapp.md): a webhook with a `phone_number_id` receives that number's
message and conversation events; one without receives every event it subscribes to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.clock import utc_iso
from convoflow.ids import new_id
from convoflow.store import webhooks as webhook_store

DELIVERY_JOB = "webhook_delivery"
WORKFLOW_EVENTS = ("workflow.execution.handoff", "workflow.execution.failed")
MESSAGE_EVENTS = (
    "whatsapp.message.received",
    "whatsapp.message.sent",
    "whatsapp.message.delivered",
    "whatsapp.message.read",
    "whatsapp.message.failed",
)
CONVERSATION_EVENTS = ("whatsapp.conversation.created", "whatsapp.conversation.ended")
EVENTS = WORKFLOW_EVENTS + MESSAGE_EVENTS + CONVERSATION_EVENTS
# The events a whatsapp_event trigger may name (receipts are not among them): checked by
# services/workflows/triggers.py and the API's trigger body, observed by
# services/whatsapp/events.py.
TRIGGERABLE_EVENTS = (
    "whatsapp.message.received",
    "whatsapp.message.sent",
    "whatsapp.message.failed",
    *CONVERSATION_EVENTS,
)


@dataclass(frozen=True)
class Event:
    project_id: str
    name: str
    data: dict[str, Any]  # the payload without `event` / `occurred_at` / `project_id`
    phone_number_id: str | None = None
    conversation_phone_number: str | None = None


def wants(webhook: Mapping[Any, Any], event: Event) -> bool:
    if not webhook["active"] or event.name not in (webhook["events"] or []):
        return False
    scoped = webhook["phone_number_id"]
    return scoped is None or scoped == event.phone_number_id


def payload_of(event: Event, now: datetime) -> dict[str, Any]:
    return {
        "event": event.name,
        "occurred_at": utc_iso(now),
        "project_id": event.project_id,
        **event.data,
    }


async def write_deliveries(
    conn: AsyncConnection, webhooks: Sequence[Mapping[Any, Any]], event: Event, now: datetime
) -> list[dict[str, Any]]:
    """Insert a pending delivery per interested webhook; returns the job rows to
    schedule (the caller inserts them in the same transaction)."""
    rows = [
        {
            "id": new_id(),
            "project_id": event.project_id,
            "webhook_id": webhook["id"],
            "webhook_url": webhook["url"],
            "event": event.name,
            "payload": payload_of(event, now),
            "status": "pending",
            "attempt_count": 0,
            "phone_number_id": event.phone_number_id,
            "conversation_phone_number": event.conversation_phone_number,
            "created_at": now,
        }
        for webhook in webhooks
        if wants(webhook, event)
    ]
    await webhook_store.insert_deliveries(conn, rows)
    return [
        {
            "kind": DELIVERY_JOB,
            "execution_id": None,
            "dedupe_key": f"delivery:{row['id']}",
            "run_at": now,
            "expected_version": None,
            "payload": {"delivery_id": row["id"]},
            "attempts": 0,
            "created_at": now,
        }
        for row in rows
    ]
