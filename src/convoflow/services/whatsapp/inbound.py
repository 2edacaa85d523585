"""The Meta webhook use-case: authenticate a POST, then apply it in one transaction.

`receive_webhook` checks `X-Hub-Signature-256` over the raw bytes with the app secret of
each number the body names (refused when missing or not matching; nothing is stored),
then one write operation stores the raw body, finds or creates each conversation, stores
each message under its unique wamid (a redelivery is a no-op), routes it, applies
statuses and publishes the events — all or nothing. With no debounce window (the usual
case for a reply) the message meets its execution in that same transaction
(`conversations/routing.route_conversation`): Meta's 200 follows the commit of the
message, the advance it caused and the replies it queued, so a crash anywhere leaves
either all of it or none (and Meta redelivers). With a debounce window, or when routing
in the request failed, a routing job runs it later in the worker.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import SQLAlchemyError

from convoflow.channels.whatsapp.inbound import InboundMessage, ParsedWebhook, parse_webhook
from convoflow.channels.whatsapp.signature import (
    SignatureCheck,
    check_signature,
    check_signature_of_each,
)
from convoflow.engine.advance import Advance
from convoflow.ids import new_id
from convoflow.services.conversations.routing import (
    receive_message,
    route_conversation,
    routes_in_transaction,
)
from convoflow.services.whatsapp import payloads
from convoflow.services.whatsapp.conversations import conversation_for
from convoflow.services.whatsapp.directory import NumberEntry
from convoflow.services.whatsapp.events import EventSink
from convoflow.services.whatsapp.phone_numbers import whatsapp
from convoflow.services.whatsapp.statuses import apply_status
from convoflow.store import messages as message_store
from convoflow.store import whatsapp as wa_store
from convoflow.store.faults import DatabaseUnavailable

if TYPE_CHECKING:
    from convoflow.services.process import Process

log = structlog.get_logger(__name__)

READ_JOB = "whatsapp_mark_read"
DEFAULT_DEBOUNCE_SECONDS = 1
DEFAULT_READ_MODE = "read_with_typing"


class Refusal(enum.Enum):
    """Why a webhook was not acknowledged (the API turns each into its status)."""

    UNSIGNED = "unsigned"  # no X-Hub-Signature-256: nothing stored
    BAD_SIGNATURE = "bad_signature"  # not signed by the numbers it names: nothing stored
    NOT_STORED = "not_stored"  # the database failed: nothing stored, Meta should retry


@dataclass(frozen=True)
class WebhookOutcome:
    """Stored (`counts` of what it held) or refused (`refusal`, with `reason` for
    NOT_STORED)."""

    counts: dict[str, int] | None = None
    refusal: Refusal | None = None
    reason: str = ""


@dataclass(frozen=True)
class FlowSettings:
    debounce_seconds: float
    read_mode: str  # disabled | read_only | read_with_typing


@dataclass
class InboundBatch:
    """What one webhook's transaction shares: numbers, events, per-body lookups."""

    adv: Advance
    numbers: dict[str, NumberEntry]
    events: EventSink
    # Route conversations with no debounce window in this transaction (False: the
    # fallback after routing here failed; every message then waits for a routing job).
    route_in_transaction: bool = True
    # Conversations to route before commit, with their row (None: read it again).
    to_route: dict[str, RowMapping | None] = field(default_factory=dict)
    conversations: dict[tuple[str, str], RowMapping] = field(default_factory=dict)
    inbound_settings: dict[str, FlowSettings] = field(default_factory=dict)
    # The same read's workflow id, handed to routing so that it does not read it again.
    inbound_workflows: dict[tuple[str, str], str | None] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: {"messages": 0, "statuses": 0, "duplicates": 0, "ignored": 0}
    )


async def receive_webhook(engine: Process, raw: bytes, signature: str | None) -> WebhookOutcome:
    if signature is None or not signature.strip():
        return WebhookOutcome(refusal=Refusal.UNSIGNED)
    try:
        return await _authenticate_and_apply(engine, raw, signature)
    except DatabaseUnavailable as exc:
        # Nothing was stored (or, if the connection dropped during COMMIT, a redelivery
        # finds the wamid and is a no-op): Meta retries anything but a 200.
        log.warning("database unavailable; WhatsApp webhook refused", error=str(exc))
        return _not_stored("the database is unavailable right now")
    except SQLAlchemyError:
        log.exception("could not store a WhatsApp webhook")
        return _not_stored("a database error (logged)")


def _not_stored(reason: str) -> WebhookOutcome:
    return WebhookOutcome(refusal=Refusal.NOT_STORED, reason=reason)


async def _authenticate_and_apply(engine: Process, raw: bytes, signature: str) -> WebhookOutcome:
    directory = whatsapp(engine).directory
    parsed = parse_webhook(raw)
    numbers: dict[str, NumberEntry] = {}
    for phone_number_id in parsed.phone_number_ids:
        entry = await directory.number(phone_number_id)
        if entry is not None:
            numbers[phone_number_id] = entry
    if numbers:  # each number the body names must vouch for it
        secrets = [entry.credentials.app_secret for entry in numbers.values()]
        check = check_signature_of_each(raw, signature, secrets)
    else:  # it names no known number: nothing of any project is stored but the receipt
        secrets = [entry.credentials.app_secret for entry in await directory.all_numbers()]
        check = check_signature(raw, signature, secrets)
    if check is not SignatureCheck.VALID:
        return WebhookOutcome(refusal=Refusal.BAD_SIGNATURE)
    projects = {entry.project_id for entry in numbers.values()}
    webhooks = {project: await directory.webhooks(project) for project in projects}

    async def apply(adv: Advance, route_in_transaction: bool = True) -> dict[str, int]:
        batch = InboundBatch(adv, numbers, EventSink(adv, webhooks), route_in_transaction)
        return await apply_webhook(batch, raw, parsed)

    try:
        counts = await engine.runtime.op(apply)
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        # Nothing committed. Routing (a flow's steps) must not keep Meta's messages out:
        # store them with routing jobs instead, as with a debounce window. No traceback
        # here (rendering one delays Meta's answer): the job meets the same error and
        # logs it with its traceback.
        log.warning(
            "routing in the webhook's transaction failed; left to the worker",
            error=f"{type(exc).__name__}: {exc}",
        )
        counts = await engine.runtime.op(lambda adv: apply(adv, route_in_transaction=False))
    return WebhookOutcome(counts=counts)


async def apply_webhook(batch: InboundBatch, raw: bytes, parsed: ParsedWebhook) -> dict[str, int]:
    adv = batch.adv
    await wa_store.insert_receipt(
        adv.conn,
        {
            "id": new_id(),
            "phone_number_id": parsed.phone_number_ids[0] if parsed.phone_number_ids else None,
            "body": raw,
            "messages_count": len(parsed.messages),
            "statuses_count": len(parsed.statuses),
            "received_at": adv.now,
        },
    )
    for message in parsed.messages:
        await _apply_message(batch, message)
    for status in parsed.statuses:
        entry = batch.numbers.get(status.phone_number_id)
        if entry is None:
            batch.counts["ignored"] += 1
            continue
        applied = await apply_status(adv, batch.events, entry.project_id, status)
        batch.counts["statuses" if applied else "duplicates"] += 1
    batch.counts["ignored"] += len(parsed.rejected)
    for conversation_id, conversation in batch.to_route.items():
        await route_conversation(
            adv, conversation_id, conversation, inbound_workflows=batch.inbound_workflows
        )
    return batch.counts


async def _apply_message(batch: InboundBatch, message: InboundMessage) -> None:
    entry = batch.numbers.get(message.phone_number_id)
    if entry is None:
        batch.counts["ignored"] += 1  # a number nobody configured: only the raw body stays
        return
    conversation, created = await _conversation(batch, entry, message)
    routable = entry.inbound_enabled and message.conversational
    settings = await _flow_settings(batch, conversation, created, entry)
    if routable:
        route_now = batch.route_in_transaction and routes_in_transaction(settings.debounce_seconds)
        message_id = await receive_message(
            batch.adv,
            conversation,
            message=message.message,
            provider_message_id=message.wamid,
            debounce_seconds=settings.debounce_seconds,
            provider_timestamp=message.timestamp,
            route_in_transaction=route_now,
        )
        if route_now and message_id is not None:
            # Routed once per conversation after all of this body's messages are stored
            # (a burst in one body becomes one input, as a routing job would make it).
            batch.to_route.setdefault(str(conversation["id"]), conversation)
    else:
        message_id = await _store_unrouted(batch.adv, conversation, message)
    if message_id is None:
        batch.counts["duplicates"] += 1
        return
    batch.counts["messages"] += 1
    if (
        not created
        and message.contact_name
        and message.contact_name != conversation["contact_name"]
    ):
        await wa_store.set_contact_name(
            batch.adv.conn, conversation["id"], message.contact_name, batch.adv.now
        )
        if str(conversation["id"]) in batch.to_route:
            # A flow started by this message sees the new name: read the row again.
            batch.to_route[str(conversation["id"])] = None
    if routable and settings.read_mode in ("read_only", "read_with_typing"):
        _schedule_read_receipt(batch.adv, conversation, settings)
    await _publish_received(batch, entry, conversation, message, message_id)


async def _conversation(
    batch: InboundBatch, entry: NumberEntry, message: InboundMessage
) -> tuple[RowMapping, bool]:
    key = (message.phone_number_id, message.wa_id)
    if key in batch.conversations:
        return batch.conversations[key], False
    row, created = await conversation_for(
        batch.adv,
        batch.events,
        project_id=entry.project_id,
        phone_number_id=message.phone_number_id,
        wa_id=message.wa_id,
        contact_name=message.contact_name,
        with_flow=True,
    )
    batch.conversations[key] = row
    return row, created


async def _flow_settings(
    batch: InboundBatch, conversation: RowMapping, created: bool, entry: NumberEntry
) -> FlowSettings:
    """The debounce and read mode of the workflow that will take the message: the
    conversation's running one, else the number's inbound trigger's (cached per body)."""
    conn = batch.adv.conn
    if not created and conversation.get("flow_status") is not None:
        # Read with the conversation (store.whatsapp.find_active_conversation_and_flow).
        # A human has the conversation: the bot shows neither ticks nor typing.
        mode = (
            "disabled"
            if conversation["flow_status"] == "handoff"
            else str(conversation["flow_read_mode"] or DEFAULT_READ_MODE)
        )
        value = conversation["flow_debounce_seconds"]
        debounce = float(DEFAULT_DEBOUNCE_SECONDS if value is None else max(0, value))
        return FlowSettings(debounce, mode)
    phone_number_id = str(conversation["phone_number_id"])
    cached = batch.inbound_settings.get(phone_number_id)
    if cached is None:
        row = await wa_store.inbound_workflow_settings(conn, entry.project_id, phone_number_id)
        cached = (
            FlowSettings(_debounce(row), _read_mode(row))
            if row is not None
            else FlowSettings(DEFAULT_DEBOUNCE_SECONDS, "disabled")  # no flow answers
        )
        batch.inbound_settings[phone_number_id] = cached
        batch.inbound_workflows[(entry.project_id, phone_number_id)] = (
            str(row["id"]) if row is not None else None
        )
    return cached


def _debounce(row: RowMapping) -> float:
    value = row["message_debounce_seconds"]
    return float(DEFAULT_DEBOUNCE_SECONDS if value is None else max(0, value))


def _read_mode(row: RowMapping) -> str:
    return str(row["inbound_message_read_mode"] or DEFAULT_READ_MODE)


async def _store_unrouted(
    adv: Advance, conversation: RowMapping, message: InboundMessage
) -> str | None:
    """Reactions, system notices, and messages to a number with inbound processing off:
    kept on the conversation, never handed to a flow."""
    message_id = new_id()
    inserted = await message_store.insert_message(
        adv.conn,
        {
            "id": message_id,
            "project_id": conversation["project_id"],
            "conversation_id": conversation["id"],
            "direction": "inbound",
            "provider_message_id": message.wamid,
            "message_type": message.type,
            "content": message.message,
            "status": "received",
            "routing": "ignored",
            "provider_timestamp": message.timestamp,
            "created_at": adv.now,
            "updated_at": adv.now,
        },
    )
    if not inserted:
        return None
    await message_store.touch_conversation(
        adv.conn, conversation["id"], now=adv.now, direction="inbound", message_id=message_id
    )
    return message_id


def _schedule_read_receipt(adv: Advance, conversation: RowMapping, settings: FlowSettings) -> None:
    # When the flow takes the burst (after the debounce): blue ticks for its last message,
    # and "typing…" while the flow works on the answer. One job per burst.
    adv.schedule_job(
        READ_JOB,
        run_at=adv.now + timedelta(seconds=settings.debounce_seconds),
        dedupe_key=f"read:{conversation['id']}",
        payload={
            "conversation_id": conversation["id"],
            "phone_number_id": conversation["phone_number_id"],
            "typing": settings.read_mode == "read_with_typing",
        },
    )


async def _publish_received(
    batch: InboundBatch,
    entry: NumberEntry,
    conversation: RowMapping,
    message: InboundMessage,
    message_id: str,
) -> None:
    async def data() -> dict[str, Any]:
        row = {
            "id": message_id,
            "provider_message_id": message.wamid,
            "message_type": message.type,
            "content": message.message,
            "direction": "inbound",
            "status": "received",
            "routing": "pending",
            "error": None,
            "execution_id": None,
            "conversation_id": conversation["id"],
            "provider_timestamp": message.timestamp,
            "created_at": batch.adv.now,
        }
        return {
            "phone_number_id": message.phone_number_id,
            "message": payloads.message(row, conversation),
            "conversation": payloads.conversation(conversation),
        }

    await batch.events.publish(
        project_id=entry.project_id,
        name="whatsapp.message.received",
        phone_number_id=message.phone_number_id,
        conversation_id=conversation["id"],
        conversation_phone_number=message.wa_id,
        dedupe=message.wamid,
        build=data,
    )
