"""Kapso's shapes for WhatsApp resources (openapi-platform.yaml): numbers, conversations,
messages (Meta's message format + a `kapso` block), webhooks and deliveries.

Pure functions of rows. They live in services, not api/, because the project-webhook
payloads carry the same conversation and message shapes the API returns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from convoflow.clock import utc_iso

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
Row = Mapping[Any, Any]


def _unix(value: datetime | None) -> str | None:
    return str(int(value.timestamp())) if value is not None else None


def _digits(value: str | None) -> str | None:
    return re.sub(r"\D", "", value) if value else None


def phone_number(row: Row) -> dict[str, Any]:
    name = row["name"] or row["display_phone_number"] or row["phone_number_id"]
    return {
        "id": row["phone_number_id"],
        "internal_id": row["id"],
        "phone_number_id": row["phone_number_id"],
        "name": name,
        "business_account_id": row["business_account_id"],
        "is_coexistence": False,
        "inbound_processing_enabled": bool(row["inbound_processing_enabled"]),
        "calls_enabled": False,
        "webhook_verified_at": utc_iso(row["webhook_verified_at"]),
        "created_at": utc_iso(row["created_at"]),
        "updated_at": utc_iso(row["updated_at"]),
        "customer_id": None,
        "display_name": name,
        "display_phone_number": row["display_phone_number"],
        "display_phone_number_normalized": _digits(row["display_phone_number"]),
        "verified_name": row["verified_name"],
        "quality_rating": row["quality_rating"],
        "code_verification_status": None,
        "name_status": None,
        "status": "CONNECTED",
        "throughput_tier": None,
        "whatsapp_business_manager_messaging_limit": None,
        "is_official_business_account": None,
        "is_pin_enabled": None,
    }


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
        "phone_number": row["wa_id"] or _digits(row["phone_number"]),
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


def webhook(row: Row) -> dict[str, Any]:
    settings = row["settings"] or {}
    return {
        "id": row["id"],
        "url": row["url"],
        "kind": row["kind"],
        "events": list(row["events"] or []),
        "active": bool(row["active"]),
        "created_at": utc_iso(row["created_at"]),
        "updated_at": utc_iso(row["updated_at"]),
        "project_id": row["project_id"],
        "phone_number_id": row["phone_number_id"],
        "secret_key": row["secret_key"],
        "headers": row["headers"] or {},
        "buffer_enabled": bool(settings.get("buffer_enabled", False)),
        "buffer_window_seconds": settings.get("buffer_window_seconds"),
        "max_buffer_size": settings.get("max_buffer_size"),
        "buffer_events": list(settings.get("buffer_events") or []),
        "inactivity_minutes": settings.get("inactivity_minutes"),
        "payload_version": row["payload_version"] or "v2",
    }


def delivery(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event": row["event"],
        "status": row["status"],
        "response_status": row["response_status"],
        "delivered_at": utc_iso(row["delivered_at"]),
        "failed_at": utc_iso(row["failed_at"]),
        "last_attempt_at": utc_iso(row["last_attempt_at"]),
        "attempt_count": row["attempt_count"],
        "created_at": utc_iso(row["created_at"]),
        "webhook_id": row["webhook_id"],
        "webhook_url": row["webhook_url"],
        "whatsapp_config_id": None,
        "phone_number_id": row["phone_number_id"],
        "conversation_phone_number": row["conversation_phone_number"],
        "last_error": row["last_error"],
        "payload": row["payload"],
    }
