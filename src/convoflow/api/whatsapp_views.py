"""Kapso's shapes for the WhatsApp resources only the API returns (openapi-platform.yaml):
numbers, project webhooks and their deliveries, and the API's conversation and message
reads, which are the documents the project-webhook events carry
(services/whatsapp/payloads.py).

Pure functions of what the services return.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convoflow.clock import utc_iso
from convoflow.services.project_webhooks.management import masked_headers
from convoflow.services.whatsapp import payloads
from convoflow.services.whatsapp.inbox import ConversationItem, MessageItem

Row = Mapping[Any, Any]


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
        "display_phone_number_normalized": payloads.digits(row["display_phone_number"]),
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


def conversation(item: ConversationItem) -> dict[str, Any]:
    return payloads.conversation(item.row, item.last)


def message(item: MessageItem) -> dict[str, Any]:
    return payloads.message(item.row, item.conversation, item.statuses)


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
        "headers": masked_headers(row["headers"]),
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
