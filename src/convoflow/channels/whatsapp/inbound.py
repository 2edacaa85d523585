"""Parse a Meta webhook POST body into typed results.

One body can batch several entries, changes, messages and statuses: all are read. The
parser never raises: a body that is not JSON, a change without a phone number, or a
message without an id lands in `rejected` with the reason, and an unreadable message
kind becomes a `{"type": "unsupported"}` message. Parse first, then check the signature
with the secrets of `phone_number_ids` over the *raw* bytes (signature.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from convoflow import json_input
from convoflow.channels.whatsapp._json import meta_errors, obj, objs, text, unix_time
from convoflow.channels.whatsapp.normalise import conversational, normalise_message


@dataclass(frozen=True)
class InboundMessage:
    """A user's message. `message` is the dict routing stores (its `input` key becomes
    `vars.last_user_input`); the other fields address and deduplicate it."""

    wamid: str
    wa_id: str  # the conversation key with phone_number_id (Meta's `from`)
    phone_number_id: str  # our number, the one the user wrote to
    timestamp: datetime | None  # None only when Meta's timestamp is unreadable
    message: dict[str, Any]
    display_phone_number: str | None = None
    business_account_id: str | None = None
    contact_name: str | None = None
    username: str | None = None
    # Business-scoped user ids (BSUIDs): stored when present, never used as the key.
    user_id: str | None = None
    parent_user_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def type(self) -> str:
        return str(self.message["type"])

    @property
    def input(self) -> Any:
        return self.message.get("input", "")

    @property
    def conversational(self) -> bool:
        return conversational(self.message)


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery receipt for one of our messages. Never starts or resumes a flow."""

    wamid: str
    status: str  # sent | delivered | read | played | failed (or a newer value)
    phone_number_id: str
    timestamp: datetime | None
    recipient_id: str | None = None
    biz_opaque_callback_data: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)  # {code,title,message,details}
    conversation: dict[str, Any] | None = None
    pricing: dict[str, Any] | None = None
    recipient_type: str | None = None
    recipient_user_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "wamid": self.wamid,
            "status": self.status,
            "timestamp": self.timestamp,
            "recipient_id": self.recipient_id,
        }
        if self.biz_opaque_callback_data is not None:
            out["biz_opaque_callback_data"] = self.biz_opaque_callback_data
        if self.errors:
            out["errors"] = self.errors
        return out


@dataclass(frozen=True)
class WebhookError:
    """An app- or account-level error (`value.errors`), not tied to one message."""

    phone_number_id: str | None
    code: int | None
    title: str | None
    message: str | None
    details: str | None


@dataclass(frozen=True)
class OtherChange:
    """A change for another webhook field (account_update, template status, ...)."""

    field: str | None
    business_account_id: str | None
    value: Any


@dataclass(frozen=True)
class Rejected:
    reason: str
    raw: Any = field(repr=False, default=None)


@dataclass
class ParsedWebhook:
    object: str | None = None
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    errors: list[WebhookError] = field(default_factory=list)
    other_changes: list[OtherChange] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    phone_number_ids: list[str] = field(default_factory=list)  # unique, in body order


@dataclass(frozen=True)
class _Change:
    phone_number_id: str
    display_phone_number: str | None
    business_account_id: str | None
    contacts: list[dict[str, Any]]
    errors: list[dict[str, Any]]


def load_body(body: bytes | str) -> Any:
    """JSON-decode a raw body; None when it is not JSON, or nested deeper than any body
    Meta sends (the caller rejects it)."""
    try:
        return json_input.decode(body)
    except json_input.JsonInputError:
        return None


def parse_webhook(body: bytes | str | Any) -> ParsedWebhook:
    """Parse raw bytes, a JSON string, or an already decoded payload."""
    payload = load_body(body) if isinstance(body, bytes | str) else body
    result = ParsedWebhook()
    if not isinstance(payload, dict):
        result.rejected.append(Rejected("the body is not a JSON object", payload))
        return result
    result.object = text(payload.get("object"))
    for entry in objs(payload.get("entry")):
        account_id = text(entry.get("id"))
        for change in objs(entry.get("changes")):
            _parse_change(result, change, account_id)
    return result


def _parse_change(result: ParsedWebhook, change: dict[str, Any], account_id: str | None) -> None:
    value = change.get("value")
    field_name = text(change.get("field"))
    # A hand-made body may omit `field`; its content still says what it is.
    looks_like_messages = isinstance(value, dict) and ("messages" in value or "statuses" in value)
    is_messages = field_name == "messages" or (field_name is None and looks_like_messages)
    if not is_messages or not isinstance(value, dict):
        result.other_changes.append(OtherChange(field_name, account_id, value))
        return
    metadata = obj(value.get("metadata"))
    phone_number_id = text(metadata.get("phone_number_id"))
    if not phone_number_id:
        reason = "a messages change without metadata.phone_number_id"
        result.rejected.append(Rejected(reason, value))
        return
    if phone_number_id not in result.phone_number_ids:
        result.phone_number_ids.append(phone_number_id)
    context = _Change(
        phone_number_id=phone_number_id,
        display_phone_number=text(metadata.get("display_phone_number")),
        business_account_id=account_id,
        contacts=objs(value.get("contacts")),
        errors=meta_errors(value.get("errors")),
    )
    for error in context.errors:
        result.errors.append(
            WebhookError(
                phone_number_id,
                error.get("code"),
                error.get("title"),
                error.get("message"),
                error.get("details"),
            )
        )
    for raw in objs(value.get("messages")):
        _add_message(result, raw, context)
    for raw in objs(value.get("statuses")):
        _add_status(result, raw, context)


def _contact_for(contacts: list[dict[str, Any]], wa_id: str | None, user_id: str | None) -> Any:
    for contact in contacts:
        if wa_id and text(contact.get("wa_id")) == wa_id:
            return contact
    for contact in contacts:
        if user_id and text(contact.get("user_id")) == user_id:
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def _add_message(result: ParsedWebhook, raw: dict[str, Any], change: _Change) -> None:
    wamid = text(raw.get("id"))
    sender, sender_bsuid = text(raw.get("from")), text(raw.get("from_user_id"))
    contact = obj(_contact_for(change.contacts, sender, sender_bsuid))
    # Users who hide their number (BSUID-only) still need a conversation key.
    wa_id = sender or text(contact.get("wa_id")) or sender_bsuid or text(contact.get("user_id"))
    if not wamid or not wa_id:
        result.rejected.append(Rejected("a message without an id or a sender", raw))
        return
    message = normalise_message(raw)
    if message["type"] == "unsupported" and "errors" not in message and change.errors:
        message["errors"] = change.errors  # Meta put the reason beside the message
    profile = obj(contact.get("profile"))
    result.messages.append(
        InboundMessage(
            wamid=wamid,
            wa_id=wa_id,
            phone_number_id=change.phone_number_id,
            timestamp=unix_time(raw.get("timestamp")),
            message=message,
            display_phone_number=change.display_phone_number,
            business_account_id=change.business_account_id,
            contact_name=text(profile.get("name")),
            username=text(profile.get("username")),
            user_id=sender_bsuid or text(contact.get("user_id")),
            parent_user_id=text(contact.get("parent_user_id")),
            raw=raw,
        )
    )


def _add_status(result: ParsedWebhook, raw: dict[str, Any], change: _Change) -> None:
    wamid, status = text(raw.get("id")), text(raw.get("status"))
    if not wamid or not status:
        result.rejected.append(Rejected("a status without an id or a status", raw))
        return
    conversation, pricing = raw.get("conversation"), raw.get("pricing")
    result.statuses.append(
        StatusUpdate(
            wamid=wamid,
            status=status,
            phone_number_id=change.phone_number_id,
            timestamp=unix_time(raw.get("timestamp")),
            recipient_id=text(raw.get("recipient_id")),
            biz_opaque_callback_data=text(raw.get("biz_opaque_callback_data")),
            errors=meta_errors(raw.get("errors")),
            conversation=conversation if isinstance(conversation, dict) else None,
            pricing=pricing if isinstance(pricing, dict) else None,
            recipient_type=text(raw.get("recipient_type")),
            recipient_user_id=text(raw.get("recipient_user_id"))
            or text(raw.get("recipient_participant_user_id")),
            raw=raw,
        )
    )
