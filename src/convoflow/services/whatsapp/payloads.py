"""Kapso's documents of a conversation and a message (Meta's message format + a `kapso`
block, openapi-platform.yaml): what the WhatsApp project-webhook events carry
(`whatsapp.message.*`, `whatsapp.conversation.*`, built inside the transaction that causes
them). The API returns the same documents for its conversation and message reads
(api/whatsapp_views.py renders the rows the inbox use-cases return with them); every other
WhatsApp resource's shape is the API's alone and lives there.

Pure functions of rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from convoflow.channels.whatsapp.normalise import MEDIA_TYPES
from convoflow.clock import utc_iso

Row = Mapping[Any, Any]


def _unix(value: datetime | None) -> str | None:
    return str(int(value.timestamp())) if value is not None else None


def digits(value: str | None) -> str | None:
    return re.sub(r"\D", "", value) if value else None


def conversation(row: Row, last: Row | None = None) -> dict[str, Any]:
    last_active = row["last_active_at"] or row["created_at"]
    summary: dict[str, Any] = {
        "contact_name": row["contact_name"],
        "messages_count": row["messages_count"],
        "last_message_id": None,
        "last_message_type": None,
        "last_message_text": None,
    }
    # Kapso's schema has these as date-times, never null: absent until they happen.
    for name in ("last_inbound_at", "last_outbound_at"):
        if row[name] is not None:
            summary[name] = utc_iso(row[name])
    if last is not None:
        summary.update(
            last_message_id=last["provider_message_id"] or last["id"],
            last_message_type=last["message_type"],
            last_message_timestamp=utc_iso(last["provider_timestamp"] or last["created_at"]),
            last_message_text=message_text(last),
        )
    return {
        "id": row["id"],
        "phone_number": row["wa_id"] or digits(row["phone_number"]),
        "business_scoped_user_id": None,
        "status": row["status"],
        "last_active_at": utc_iso(last_active),
        "created_at": utc_iso(row["created_at"]),
        "updated_at": utc_iso(row["updated_at"]),
        "metadata": row["metadata"] or {},
        "phone_number_id": row["phone_number_id"],
        "channel": row["channel"],
        "kapso": summary,
    }


def message_text(row: Row) -> str | None:
    content = row["content"] or {}
    value = content.get("text")
    if isinstance(value, dict):
        value = value.get("body")
    if isinstance(value, str):
        return value
    interactive = content.get("interactive")
    if isinstance(interactive, dict):
        body = interactive.get("body_text") or (interactive.get("body") or {})
        return body if isinstance(body, str) else body.get("text")
    return None


def _inbound_object(kind: str, content: dict[str, Any]) -> Any:
    """Meta's kind-specific object, rebuilt from the normalised message."""
    if kind == "text":
        return {"body": content.get("text", "")}
    if kind == "interactive":
        reply_kind = content.get("interactive_type")
        if reply_kind in ("button_reply", "list_reply"):
            picked = {k: content[k] for k in ("id", "title", "description") if k in content}
            return {"type": reply_kind, reply_kind: picked}
        if reply_kind == "nfm_reply":
            response = content.get("response_json")
            raw = response if isinstance(response, str) else json.dumps(response)
            reply = {"response_json": raw, "body": content.get("text"), "name": content.get("name")}
            return {"type": "nfm_reply", "nfm_reply": reply}
        return {"type": reply_kind, str(reply_kind): content.get("reply", {})}
    if kind == "button":
        return {"text": content.get("title"), "payload": content.get("payload")}
    if kind in MEDIA_TYPES:
        keys = {"media_id": "id", "mime_type": "mime_type", "sha256": "sha256",
                "caption": "caption", "filename": "filename", "url": "link"}  # fmt: skip
        return {meta: content[ours] for ours, meta in keys.items() if ours in content}
    if kind == "location":
        names = ("latitude", "longitude", "name", "address", "url")
        return {k: content[k] for k in names if k in content}
    if kind == "reaction":
        return {"message_id": content.get("reacted_message_id"), "emoji": content.get("emoji")}
    if kind == "contacts":
        return content.get("contacts", [])
    if kind == "order":
        return content.get("order", {})
    if kind == "system":
        return {"body": content.get("text"), "type": content.get("system_type")}
    return {"errors": content.get("errors", [])}


def _outbound_object(kind: str, content: dict[str, Any]) -> Any:
    value = content.get(kind)
    if kind == "text":
        return value if isinstance(value, dict) else {"body": value}
    return value if value is not None else {k: v for k, v in content.items() if k != "type"}


def _shown_status(row: Row) -> str:
    status = str(row["status"])
    return "delivered" if status == "received" else status


def _processing_status(row: Row) -> str:
    return "pending" if row["routing"] == "pending" else "processed"


def message(row: Row, conv: Row | None, statuses: Sequence[Row] | None = None) -> dict[str, Any]:
    content = dict(row["content"] or {})
    kind = str(row["message_type"])
    inbound = row["direction"] == "inbound"
    user = conv["wa_id"] if conv is not None else None
    view: dict[str, Any] = {
        "id": row["provider_message_id"] or row["id"],
        "timestamp": _unix(row["provider_timestamp"] or row["created_at"]),
        "type": kind,
        "from": user if inbound else None,
        "to": None if inbound else user,
    }
    view[kind] = _inbound_object(kind, content) if inbound else _outbound_object(kind, content)
    if isinstance(content.get("context"), dict):
        view["context"] = content["context"]
    kapso: dict[str, Any] = {
        "direction": row["direction"],
        "status": _shown_status(row),
        "processing_status": _processing_status(row),
        "origin": "cloud_api",
        "phone_number": user,
        "phone_number_id": conv["phone_number_id"] if conv is not None else None,
        "has_media": kind in MEDIA_TYPES,
        "whatsapp_conversation_id": row["conversation_id"],
        "contact_name": conv["contact_name"] if conv is not None else None,
        "content": message_text(row),
        "execution_id": row["execution_id"],
    }
    if row["error"]:
        kapso["error"] = row["error"]
    if statuses is not None:
        kapso["statuses"] = [status["payload"] for status in statuses]
    view["kapso"] = kapso
    return view
