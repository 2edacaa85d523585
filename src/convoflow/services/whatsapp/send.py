"""Human replies (handoff) through the same Graph client as the bot: Kapso's Meta proxy
`POST /meta/whatsapp/{version}/{phone_number_id}/messages` and
`POST /platform/v1/whatsapp/messages`. Both take Meta's message body.

The send is a network call, made before any transaction; the accepted message is then
recorded on the conversation (created if needed) in one write. Refused sends are not
recorded: the caller gets Meta's error and decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convoflow.channels.whatsapp.errors import GraphError
from convoflow.channels.whatsapp.outbound import recipient_digits
from convoflow.engine.advance import Advance
from convoflow.services.common import Actor, FieldProblem, in_project, invalid
from convoflow.services.whatsapp.conversations import conversation_for, record_outbound
from convoflow.services.whatsapp.directory import NumberEntry
from convoflow.services.whatsapp.events import EventSink
from convoflow.services.whatsapp.inbox import MessageItem
from convoflow.services.whatsapp.number_ownership import not_owned
from convoflow.services.whatsapp.phone_numbers import whatsapp
from convoflow.store import messages as message_store
from convoflow.store import receipts as receipt_store
from convoflow.store import whatsapp as wa_store
from convoflow.store import whatsapp_queries as queries

if TYPE_CHECKING:
    from convoflow.services.process import Process

_ENVELOPE = ("messaging_product", "recipient_type", "to", "biz_opaque_callback_data")


@dataclass(frozen=True)
class SendOutcome:
    """`message` (the stored message and its conversation) when Meta accepted; `error`
    when it refused."""

    wamid: str | None = None
    to: str | None = None
    message: MessageItem | None = None
    error: GraphError | None = None
    read_receipt: bool = False


def _problem(field: str, message: str) -> Exception:
    return invalid([FieldProblem(field, message)])


def meta_body(body: dict[str, Any], to: str) -> dict[str, Any]:
    """Meta's body with the envelope filled in; `"text": "hi"` is accepted for text."""
    kind = body.get("type") or ("text" if "text" in body else None)
    if not isinstance(kind, str) or not kind:
        raise _problem("type", "is required: Meta's message type (text, template, image, ...)")
    content = body.get(kind)
    if kind == "text" and isinstance(content, str):
        content = {"body": content}
    if not isinstance(content, dict | list) or not content:
        raise _problem(kind, f"a {kind} message needs a {kind!r} object, as in Meta's API")
    out = {k: v for k, v in body.items() if k not in ("phone_number_id", "conversation_id")}
    out.update(messaging_product="whatsapp", recipient_type="individual", to=to, type=kind)
    out[kind] = content
    return out


async def _number(engine: Process, actor: Actor, phone_number_id: str) -> NumberEntry:
    entry = await whatsapp(engine).directory.number(phone_number_id)
    if entry is None or entry.project_id != actor.project_id:
        raise not_owned("phone_number_id", phone_number_id)
    return entry


async def send_human_message(
    engine: Process,
    actor: Actor,
    *,
    phone_number_id: str | None,
    body: dict[str, Any],
    conversation_id: str | None = None,
) -> SendOutcome:
    conversation = None
    if conversation_id:
        async with engine.db.read() as conn:
            conversation = await in_project(
                conn, queries.get_conversation, "conversation", conversation_id, actor
            )
        phone_number_id = phone_number_id or conversation["phone_number_id"]
    if not phone_number_id:
        raise _problem("phone_number_id", "is required (or a conversation_id that has one)")
    entry = await _number(engine, actor, phone_number_id)
    services = whatsapp(engine)
    token = entry.credentials.access_token
    if body.get("status") == "read" and body.get("message_id"):
        typing = isinstance(body.get("typing_indicator"), dict)
        try:
            await services.client.mark_read(
                phone_number_id, token, str(body["message_id"]), typing=typing
            )
        except GraphError as exc:
            return SendOutcome(error=exc, read_receipt=True)
        return SendOutcome(read_receipt=True)
    raw_to = body.get("to") or (conversation["wa_id"] if conversation is not None else None)
    if not isinstance(raw_to, str) or not recipient_digits(raw_to):
        raise _problem("to", "is required: the user's WhatsApp number (wa_id), e.g. 15550001234")
    to = recipient_digits(raw_to)
    meta = meta_body(body, to)
    try:
        wamid = await services.client.send_message(phone_number_id, token, meta)
    except GraphError as exc:
        return SendOutcome(to=to, error=exc)
    view = await _record(engine, entry, meta, wamid, conversation_id if conversation else None)
    return SendOutcome(wamid=wamid, to=to, message=view)


async def _record(
    engine: Process,
    entry: NumberEntry,
    meta: dict[str, Any],
    wamid: str,
    conversation_id: str | None,
) -> MessageItem:
    webhooks = {entry.project_id: await whatsapp(engine).directory.webhooks(entry.project_id)}
    content = {k: v for k, v in meta.items() if k not in _ENVELOPE}
    content["sender"] = "human"

    async def record(adv: Advance) -> MessageItem:
        conversation = (
            await message_store.get_conversation(adv.conn, conversation_id)
            if conversation_id
            else None
        )
        if conversation is None:
            conversation, _ = await conversation_for(
                adv, EventSink(adv, webhooks), project_id=entry.project_id,
                phone_number_id=entry.credentials.phone_number_id, wa_id=str(meta["to"]),
            )  # fmt: skip
        row = await record_outbound(
            adv, conversation, project_id=entry.project_id, provider_message_id=wamid,
            message_type=str(meta["type"]), content=content, status="sent",
        )  # fmt: skip
        message_id = row["id"]
        await receipt_store.apply_known_statuses(
            adv.conn, entry.project_id, message_id, wamid, adv.now
        )
        stored = await wa_store.message_by_wamid(adv.conn, entry.project_id, wamid)
        assert stored is not None
        return MessageItem(stored, conversation)

    return await engine.runtime.op(record)
