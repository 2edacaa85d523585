"""One Meta message object -> the channel-neutral dict routing stores.

Every result has `type`, `text` (a human-readable rendering, "" when there is none),
`input` (what becomes `vars.last_user_input`, DECISIONS.md) and `channel`. Kind-specific
keys are present only when Meta sent them. A shape we cannot read becomes
`{"type": "unsupported", ...}`: the user still said *something*, and routing decides
what to do with it; the parser itself never raises.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from convoflow.channels.whatsapp._json import meta_errors, number, obj, objs, text

Normalised = dict[str, Any]
# Meta's media message kinds, in and out (outbound.py, services/whatsapp/payloads.py).
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
REPLY_TYPES = ("button_reply", "list_reply")


def _compact(values: dict[str, Any]) -> Normalised:
    return {key: value for key, value in values.items() if value is not None}


def _text(raw: dict[str, Any]) -> Normalised | None:
    body = text(obj(raw.get("text")).get("body"))
    if body is None:
        return None
    return {"type": "text", "text": body, "input": body}


def _interactive(raw: dict[str, Any]) -> Normalised | None:
    interactive = raw.get("interactive")
    if not isinstance(interactive, dict):
        return None  # pywa's `interactive_message_with_err`: no interactive object at all
    kind = text(interactive.get("type"))
    if kind is None:
        return None
    reply = obj(interactive.get(kind))
    if kind in REPLY_TYPES:
        reply_id, title = text(reply.get("id")), text(reply.get("title"))
        if reply_id is None and title is None:
            return None
        label = title if title is not None else reply_id or ""
        return _compact(
            {
                "type": "interactive",
                "interactive_type": kind,
                "id": reply_id,
                "title": title,
                "description": text(reply.get("description")),
                "text": label,
                "input": label,
            }
        )
    if kind == "nfm_reply":
        return _flow_reply(reply)
    # A newer reply kind (address_message, call_permission_reply, ...): keep its object.
    return {
        "type": "interactive",
        "interactive_type": kind,
        "reply": reply,
        "text": "",
        "input": "",
    }


def _flow_reply(reply: dict[str, Any]) -> Normalised:
    raw_json = reply.get("response_json")
    response: Any = raw_json
    if isinstance(raw_json, str):
        try:
            response = json.loads(raw_json)
        except (ValueError, RecursionError):
            response = raw_json  # keep the string rather than lose the answers
    flow_token = obj(response).get("flow_token")
    return _compact(
        {
            "type": "interactive",
            "interactive_type": "nfm_reply",
            "response_json": response,
            "flow_token": text(flow_token),
            "name": text(reply.get("name")),
            "text": text(reply.get("body")) or "",
            "input": response if response is not None else "",
        }
    )


def _quick_reply(raw: dict[str, Any]) -> Normalised | None:
    # A template's quick-reply button: `type: "button"`, not an interactive reply.
    button = obj(raw.get("button"))
    label, payload = text(button.get("text")), text(button.get("payload"))
    if label is None and payload is None:
        return None
    shown = label if label is not None else payload or ""
    return _compact(
        {"type": "button", "title": label, "payload": payload, "text": shown, "input": shown}
    )


def _media(kind: str) -> Callable[[dict[str, Any]], Normalised | None]:
    def read(raw: dict[str, Any]) -> Normalised | None:
        media = raw.get(kind)
        if not isinstance(media, dict):
            return None
        caption = text(media.get("caption"))
        flags = {flag: media[flag] for flag in ("voice", "animated") if flag in media}
        return _compact(
            {
                "type": kind,
                "media_id": text(media.get("id")),
                "mime_type": text(media.get("mime_type")),
                "sha256": text(media.get("sha256")),
                "caption": caption,
                "filename": text(media.get("filename")),
                "url": text(media.get("url")),
                **{flag: bool(value) for flag, value in flags.items()},
                "text": caption or "",
                "input": caption or "",
            }
        )

    return read


def _coordinate(value: float) -> str:
    rendered = repr(value)
    return rendered[:-2] if rendered.endswith(".0") else rendered


def _location(raw: dict[str, Any]) -> Normalised | None:
    location = obj(raw.get("location"))
    latitude, longitude = number(location.get("latitude")), number(location.get("longitude"))
    if latitude is None or longitude is None:
        return None
    point = f"{_coordinate(latitude)},{_coordinate(longitude)}"
    name, address = text(location.get("name")), text(location.get("address"))
    shown = ", ".join(part for part in (name, address) if part) or point
    return _compact(
        {
            "type": "location",
            "latitude": latitude,
            "longitude": longitude,
            "name": name,
            "address": address,
            "url": text(location.get("url")),
            "text": shown,
            "input": point,
        }
    )


def _reaction(raw: dict[str, Any]) -> Normalised | None:
    reaction = raw.get("reaction")
    if not isinstance(reaction, dict):
        return None
    # An empty or missing emoji is Meta's way of saying the reaction was removed.
    emoji = text(reaction.get("emoji")) or ""
    return _compact(
        {
            "type": "reaction",
            "emoji": emoji,
            "reacted_message_id": text(reaction.get("message_id")),
            "removed": emoji == "",
            "text": emoji,
            "input": emoji,
        }
    )


def _contacts(raw: dict[str, Any]) -> Normalised | None:
    cards = objs(raw.get("contacts"))
    if not cards:
        return None
    names = [text(obj(card.get("name")).get("formatted_name")) for card in cards]
    shown = ", ".join(name for name in names if name)
    return {"type": "contacts", "contacts": cards, "text": shown, "input": shown}


def _order(raw: dict[str, Any]) -> Normalised | None:
    order = raw.get("order")
    if not isinstance(order, dict):
        return None
    note = text(order.get("text")) or ""
    return _compact(
        {
            "type": "order",
            "order": order,
            "catalog_id": text(order.get("catalog_id")),
            "text": note,
            "input": note,
        }
    )


def _system(raw: dict[str, Any]) -> Normalised | None:
    system = raw.get("system")
    if not isinstance(system, dict):
        return None
    body = text(system.get("body")) or ""
    identity = raw.get("identity")
    return _compact(
        {
            "type": "system",
            "system_type": text(system.get("type")),
            "new_wa_id": text(system.get("wa_id")),
            "identity": identity if isinstance(identity, dict) else None,
            "text": body,
            "input": body,
        }
    )


_READERS: dict[str, Callable[[dict[str, Any]], Normalised | None]] = {
    "text": _text,
    "interactive": _interactive,
    "button": _quick_reply,
    "location": _location,
    "reaction": _reaction,
    "contacts": _contacts,
    "order": _order,
    "system": _system,
    **{kind: _media(kind) for kind in MEDIA_TYPES},
}


def unsupported(raw: dict[str, Any], kind: str | None) -> Normalised:
    detail = text(obj(raw.get("unsupported")).get("type"))
    shown_kind = kind if kind not in (None, "", "unsupported") else detail
    return _compact(
        {
            "type": "unsupported",
            "unsupported_type": shown_kind,
            "errors": meta_errors(raw.get("errors")) or None,
            "text": "",
            "input": "",
        }
    )


def normalise_message(raw: dict[str, Any]) -> Normalised:
    """The stored form of one `value.messages[i]` object."""
    kind = text(raw.get("type"))
    reader = _READERS.get(kind or "")
    message = reader(raw) if reader else None
    if message is None:
        message = unsupported(raw, kind)
    context = raw.get("context")
    if isinstance(context, dict) and context:
        message["context"] = context
    referral = raw.get("referral")
    if isinstance(referral, dict) and referral:
        # Click-to-WhatsApp ads: the ad the user came from (source_url, ctwa_clid, ...).
        message["referral"] = referral
    message["channel"] = "whatsapp"
    return message


def conversational(message: Normalised) -> bool:
    """Whether a message is something the user *said* to the flow. Reactions and system
    notices (number/identity changes) are stored but, by default, should not answer a
    wait or start an execution; routing makes the final call."""
    return message.get("type") not in ("reaction", "system")
