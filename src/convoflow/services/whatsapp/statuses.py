"""Delivery receipts (`value.statuses`) applied to our outbound messages.

Rules (docs/whatsapp.md): each (wamid, status) counts once per project (the project of
the number that reported it: another tenant's signed status for our wamid is its own
row, never applied to our message nor blocking our receipt, docs/security.md); a
message's status only moves forward (sent < failed < delivered < read, so out-of-order
receipts end in the same state); a receipt never starts or resumes the conversation's
flow. A `failed` receipt whose error can never succeed (131047 outside the 24-hour
window, 131026 undeliverable, template and auth errors) fails the execution that sent
the message if it is still running or waiting, with the same message a synchronous
failure gives; a retryable code (rate limit, temporary error) is only recorded: Meta
accepted the message once, and sending it again could deliver it twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping

from convoflow.channels.whatsapp.channel import parse_tracker
from convoflow.channels.whatsapp.errors import Action, GraphError, classify, describe
from convoflow.channels.whatsapp.inbound import StatusUpdate
from convoflow.engine import status as st
from convoflow.engine.advance import Advance, ExecutionNotFound
from convoflow.engine.dispatcher import fail_for_send
from convoflow.engine.send_record import reconcile_from_status
from convoflow.ids import new_id
from convoflow.services.whatsapp import payloads
from convoflow.services.whatsapp.events import EventSink
from convoflow.store import messages as message_store
from convoflow.store import outbox as outbox_store
from convoflow.store import receipts as receipt_store
from convoflow.store import whatsapp as wa_store

EVENT_FOR = {
    "sent": "whatsapp.message.sent",
    "delivered": "whatsapp.message.delivered",
    "read": "whatsapp.message.read",
    "failed": "whatsapp.message.failed",
}


async def apply_status(
    adv: Advance, events: EventSink, project_id: str, status: StatusUpdate
) -> bool:
    """False when this receipt was applied before (Meta redelivered it)."""
    await outbox_store.lock_provider_messages(adv.conn, project_id, status.wamid)
    fresh = await receipt_store.insert_status(
        adv.conn,
        {
            "id": new_id(),
            "project_id": project_id,
            "provider_message_id": status.wamid,
            "status": status.status,
            "phone_number_id": status.phone_number_id,
            "recipient_id": status.recipient_id,
            "errors": status.errors or None,
            "payload": status.raw or status.as_dict(),
            "provider_timestamp": status.timestamp,
            "created_at": adv.now,
        },
    )
    if not fresh:
        return False
    message = await wa_store.message_by_wamid(adv.conn, project_id, status.wamid)
    tracker = parse_tracker(status.biz_opaque_callback_data)
    # No record of this wamid, but the status names one of our attempts: the dispatcher
    # died before recording Meta's answer (or has not yet). Meta's word settles it, no
    # resend; the status just stored is applied by the record.
    if (
        message is None
        and tracker.outbox_key
        and await reconcile_from_status(
            adv.conn, project_id, tracker.outbox_key, status.wamid, adv.now
        )
    ):
        message = await wa_store.message_by_wamid(adv.conn, project_id, status.wamid)
    effective = receipt_store.effective_status(status.status)
    error = status.errors[0] if status.errors else None
    if (
        message is not None
        and message["direction"] == "outbound"
        and effective is not None
        and receipt_store.advances(str(message["status"]), effective)
    ):
        await receipt_store.set_message_status(
            adv.conn, message["id"], status=effective, error=error, now=adv.now
        )
    if status.status == "failed":
        await _fail_live_execution(adv, project_id, message, status)
    if effective in EVENT_FOR:
        await _publish(adv, events, project_id, status, message, effective, error)
    return True


async def _fail_live_execution(
    adv: Advance, project_id: str, message: RowMapping | None, status: StatusUpdate
) -> None:
    raw_error = status.errors[0] if status.errors else {}
    error = GraphError.from_status_error(raw_error) if raw_error else GraphError("message failed")
    policy = classify(error.code, error.subcode, error.http_status)
    if policy.action is Action.RETRY:
        return
    # biz_opaque_callback_data carries the execution id (channel.py) when the receipt
    # overtook the dispatcher's record of the send.
    execution_id = (message["execution_id"] if message is not None else None) or (
        parse_tracker(status.biz_opaque_callback_data).execution_id
    )
    if not execution_id:
        return
    try:
        state = await adv.load(str(execution_id))
    except ExecutionNotFound:
        return
    if state.project_id != project_id or state.status in st.TERMINAL:
        return
    if state.status == st.HANDOFF:
        return  # a human has the conversation; the failure stays on the message
    await fail_for_send(adv, state.id, {**describe(error, policy), "wamid": status.wamid})


async def _publish(
    adv: Advance,
    events: EventSink,
    project_id: str,
    status: StatusUpdate,
    message: RowMapping | None,
    effective: str,
    error: dict[str, Any] | None,
) -> None:
    conversation_id = message["conversation_id"] if message is not None else None

    async def data() -> dict[str, Any]:
        conversation = (
            await message_store.get_conversation(adv.conn, conversation_id)
            if conversation_id
            else None
        )
        body: dict[str, Any] = {"phone_number_id": status.phone_number_id}
        if message is not None:
            current = dict(message)
            if receipt_store.advances(str(message["status"]), effective):
                current.update(status=effective, error=error or message["error"])
            body["message"] = payloads.message(current, conversation)
        else:
            body["message"] = {"id": status.wamid, "kapso": {"status": effective}}
        body["status"] = status.raw or status.as_dict()
        if conversation is not None:
            body["conversation"] = payloads.conversation(conversation)
        return body

    await events.publish(
        project_id=project_id,
        name=EVENT_FOR[effective],
        phone_number_id=status.phone_number_id,
        conversation_id=conversation_id,
        conversation_phone_number=status.recipient_id,
        dedupe=f"{status.wamid}:{status.status}",
        build=data,
    )
