"""Meta-shaped webhook bodies, built the way Meta sends them (the shapes of
whatsapp-cloud-api.md §2.1 and the wa-fixtures): used by the fake Graph server to
simulate users and receipts, and by tests that need a body for a given case.
"""

from __future__ import annotations

import json
from typing import Any

from convoflow.channels.whatsapp._json import text
from convoflow.channels.whatsapp.signature import sign

DEFAULT_BUSINESS_ACCOUNT_ID = "100000000000000"


class UserMessageError(ValueError):
    """A simulated user message request that names no (or an unknown) kind."""


def encode(payload: Any) -> bytes:
    """Compact JSON with non-ASCII escaped, as Meta sends it; sign these exact bytes."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def signed(payload: Any, app_secret: str) -> tuple[bytes, dict[str, str]]:
    """The bytes to POST and the headers Meta would send with them."""
    body = encode(payload)
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(app_secret, body)}


def envelope(
    value: dict[str, Any],
    *,
    phone_number_id: str,
    display_phone_number: str | None = None,
    business_account_id: str = DEFAULT_BUSINESS_ACCOUNT_ID,
) -> dict[str, Any]:
    metadata = {
        "display_phone_number": display_phone_number or phone_number_id,
        "phone_number_id": phone_number_id,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": business_account_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {"messaging_product": "whatsapp", "metadata": metadata, **value},
                    }
                ],
            }
        ],
    }


def user_message_content(request: dict[str, Any]) -> dict[str, Any]:
    """The kind-specific part of a user message from a simple request: one of `text`,
    `button_reply {id, title}`, `list_reply {id, title, description?}`, `quick_reply
    {payload, text}` (template button), `flow_reply {response_json, body?}`, `media
    {type, id?, mime_type?, caption?}`, `location {latitude, longitude, name?, address?}`,
    `reaction {message_id, emoji}`."""
    if text(request.get("text")) is not None:
        return {"type": "text", "text": {"body": text(request.get("text"))}}
    for kind in ("button_reply", "list_reply"):
        if isinstance(request.get(kind), dict):
            return {"type": "interactive", "interactive": {"type": kind, kind: request[kind]}}
    if isinstance(request.get("quick_reply"), dict):
        return {"type": "button", "button": request["quick_reply"]}
    if isinstance(request.get("flow_reply"), dict):
        flow = dict(request["flow_reply"])
        response = flow.get("response_json", {})
        reply: dict[str, Any] = {
            "response_json": response if isinstance(response, str) else json.dumps(response),
            "body": flow.get("body", "Sent"),
            "name": "flow",
        }
        return {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": reply}}
    if isinstance(request.get("media"), dict):
        media = dict(request["media"])
        kind = text(media.pop("type", None)) or "image"
        media.setdefault("id", "fake-media-1")
        media.setdefault("mime_type", "image/jpeg")
        return {"type": kind, kind: media}
    if isinstance(request.get("location"), dict):
        return {"type": "location", "location": request["location"]}
    if isinstance(request.get("reaction"), dict):
        return {"type": "reaction", "reaction": request["reaction"]}
    raise UserMessageError(
        "say what the user sends: text, button_reply, list_reply, quick_reply, flow_reply, "
        "media, location or reaction"
    )


def inbound_message_body(
    content: dict[str, Any],
    *,
    phone_number_id: str,
    wa_id: str,
    wamid: str,
    timestamp: int,
    name: str | None = None,
    context_id: str | None = None,
    display_phone_number: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"from": wa_id, "id": wamid, "timestamp": str(timestamp)}
    if context_id:
        message["context"] = {"from": display_phone_number or phone_number_id, "id": context_id}
    message.update(content)
    contact = {"profile": {"name": name or wa_id}, "wa_id": wa_id}
    value = {"contacts": [contact], "messages": [message]}
    return envelope(
        value, phone_number_id=phone_number_id, display_phone_number=display_phone_number
    )


def status_body(
    *,
    phone_number_id: str,
    wamid: str,
    status: str,
    recipient_id: str,
    timestamp: int,
    biz_opaque_callback_data: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    display_phone_number: str | None = None,
) -> dict[str, Any]:
    receipt: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": recipient_id,
    }
    if biz_opaque_callback_data:
        receipt["biz_opaque_callback_data"] = biz_opaque_callback_data
    if errors:
        receipt["errors"] = errors
    else:
        receipt["conversation"] = {"id": f"conv-{recipient_id}", "origin": {"type": "service"}}
        receipt["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    return envelope(
        {"statuses": [receipt]},
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
    )


def meta_error(code: int, message: str, details: str | None = None) -> dict[str, Any]:
    """One error object as it appears in a `failed` status (title = message, as Meta)."""
    error: dict[str, Any] = {"code": code, "title": message, "message": message}
    error["error_data"] = {"details": details or message}
    return error


def graph_error_body(
    code: int, message: str, *, details: str | None = None, subcode: int | None = None
) -> dict[str, Any]:
    """A Graph API error response body (`{"error": {...}}`)."""
    error: dict[str, Any] = {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details or message},
        "fbtrace_id": "AFakeTraceId",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def unknown_object_message(object_id: str) -> str:
    """Meta's message for a read of an object the token may not see (or that does not
    exist: Meta does not say which)."""
    return (
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read "
        "the Graph API documentation at https://developers.facebook.com/docs/graph-api"
    )


def unknown_object_body(object_id: str) -> dict[str, Any]:
    return {
        "error": {
            "message": unknown_object_message(object_id),
            "type": "GraphMethodException",
            "code": 100,
            "error_subcode": 33,
            "fbtrace_id": "AFakeTraceId",
        }
    }
