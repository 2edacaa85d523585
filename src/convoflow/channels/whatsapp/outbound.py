"""Channel-neutral outbound messages -> the JSON body of Meta's `POST /{phone_number_id}/messages`.

Our shapes (engine/steps/send_*.py): `{"type": "text", "text": "..."}`,
`{"type": "template", "template": {...}}`, `{"type": "interactive", "interactive": {<Kapso
send_interactive fields>}}`, media `{"type": "image", "image": {"link" | "id", "caption"?}}`
(flat `media_url` / `media_id` / `caption` also accepted), `{"type": "location", ...}`.
Everything WhatsApp would refuse raises OutboundMessageError before the network call.
"""

from __future__ import annotations

import re
from typing import Any

from convoflow.channels.whatsapp._json import number, obj, text
from convoflow.channels.whatsapp.interactive import (
    OutboundMessageError,
    build_interactive,
    check_length,
)
from convoflow.channels.whatsapp.normalise import MEDIA_TYPES
from convoflow.channels.whatsapp.template import build_template

__all__ = ["OutboundMessageError", "build_message_body", "recipient_digits"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_TRACKER = 512
_CAPTIONED = ("image", "video", "document")
_URL = re.compile(r"(?i)\bhttps?://\S")


def build_message_body(
    message: dict[str, Any], *, to: str, biz_opaque_callback_data: str | None = None
) -> dict[str, Any]:
    """The full request body. `biz_opaque_callback_data` (we pass the execution id) comes
    back on every status webhook for this message."""
    kind = text(message.get("type")) or "text"
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
    }
    if kind == "text":
        body["text"] = _text(message.get("text"))
    elif kind == "template":
        body["template"] = build_template(obj(message.get("template")))
    elif kind == "interactive":
        body["interactive"] = build_interactive(obj(message.get("interactive")))
    elif kind in MEDIA_TYPES:
        body[kind] = _media(kind, message)
    elif kind == "location":
        body["location"] = _location(obj(message.get("location")) or message)
    else:
        raise OutboundMessageError(f"message type {kind!r} cannot be sent on WhatsApp")
    reply_to = text(obj(message.get("context")).get("message_id"))
    if reply_to:
        body["context"] = {"message_id": reply_to}
    if biz_opaque_callback_data:
        body["biz_opaque_callback_data"] = check_length(
            biz_opaque_callback_data, MAX_TRACKER, "biz_opaque_callback_data"
        )
    return body


def recipient_digits(value: str) -> str:
    """`+1 (555) 000-1234` -> `15550001234`; Meta wants the number without formatting."""
    return re.sub(r"[\s()+\-.]", "", value)


def _text(value: Any) -> dict[str, Any]:
    # A Meta-shaped `{"body", "preview_url"}` (messages API) is accepted as well.
    explicit_preview = None
    if isinstance(value, dict):
        explicit_preview = value.get("preview_url")
        value = value.get("body")
    content = text(value)
    if content is None or not content.strip():
        raise OutboundMessageError("a text message needs a non-empty text")
    check_length(content, MAX_TEXT, "text")
    preview = (
        bool(explicit_preview) if isinstance(explicit_preview, bool) else bool(_URL.search(content))
    )
    return {"body": content, "preview_url": preview}


def _media(kind: str, message: dict[str, Any]) -> dict[str, Any]:
    media = obj(message.get(kind))
    media_id = text(media.get("id")) or text(message.get("media_id"))
    link = (
        text(media.get("link"))
        or text(media.get("url"))
        or text(message.get("media_url"))
        or text(message.get("link"))
    )
    if not media_id and not link:
        raise OutboundMessageError(f"a {kind} message needs a media id or a link")
    if media_id and link:
        raise OutboundMessageError(f"a {kind} message takes a media id or a link, not both")
    built: dict[str, Any] = {"id": media_id} if media_id else {"link": link}
    caption = text(media.get("caption")) or text(message.get("caption"))
    if caption:
        if kind not in _CAPTIONED:
            raise OutboundMessageError(f"a {kind} message cannot have a caption")
        built["caption"] = check_length(caption, MAX_CAPTION, "caption")
    filename = text(media.get("filename")) or text(message.get("filename"))
    if filename and kind == "document":
        built["filename"] = filename
    return built


def _location(location: dict[str, Any]) -> dict[str, Any]:
    latitude, longitude = number(location.get("latitude")), number(location.get("longitude"))
    if latitude is None or longitude is None:
        raise OutboundMessageError("a location message needs numeric latitude and longitude")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise OutboundMessageError(f"location {latitude},{longitude} is out of range")
    built: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    for key in ("name", "address"):
        value = text(location.get(key))
        if value:
            built[key] = value
    return built
