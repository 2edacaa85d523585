"""`WhatsAppChannel`: the outbox dispatcher's way to send through the Cloud API.

A send is a network call between two transactions (`transactional = False`), see
engine/dispatcher.py. Every outcome becomes a SendResult: the wamid, a retry with a delay,
or a terminal failure whose message the failed execution shows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.channels.base import Delivery, SendResult
from convoflow.channels.whatsapp._json import obj, text
from convoflow.channels.whatsapp.client import GraphClient
from convoflow.channels.whatsapp.errors import Action, GraphError, classify, send_result_for
from convoflow.channels.whatsapp.outbound import (
    OutboundMessageError,
    build_message_body,
    recipient_digits,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PhoneCredentials:
    """One WhatsApp number's settings. Secrets are excluded from repr so they cannot
    reach a log line through an f-string or a traceback."""

    phone_number_id: str
    access_token: str = field(repr=False)
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)
    display_phone_number: str | None = None
    business_account_id: str | None = None
    project_id: str | None = None


CredentialsLookup = Callable[[str], Awaitable[PhoneCredentials | None]]


def _failure(code: str, message: str) -> SendResult:
    return SendResult("failed", error={"code": code, "message": message}, fail_execution=True)


class WhatsAppChannel:
    name = "whatsapp"
    transactional = False

    def __init__(self, client: GraphClient, credentials: CredentialsLookup) -> None:
        self.client = client
        self.credentials = credentials

    async def send(self, delivery: Delivery) -> SendResult:
        message = delivery.message
        conversation = delivery.conversation
        sender = obj(message.get("from"))
        # A node's whatsapp_config_id may be our id of the number: the lookup resolves it.
        phone_number_id = (
            text(sender.get("phone_number_id"))
            or text(sender.get("whatsapp_config_id"))
            or (text(conversation["phone_number_id"]) if conversation is not None else None)
        )
        if not phone_number_id:
            return _failure(
                "no_phone_number",
                "no WhatsApp number to send from: the conversation has none and the "
                "node sets no phone_number_id",
            )
        creds = await self.credentials(phone_number_id)
        # Another project's number fails exactly like an unknown one: the execution's
        # error is no oracle of other tenants' numbers.
        if creds is None or (
            creds.project_id and creds.project_id != delivery.outbox["project_id"]
        ):
            return _failure(
                "unknown_phone_number",
                f"WhatsApp number {phone_number_id} is not configured in this project "
                "(connect it with POST /platform/v1/whatsapp/phone_numbers or "
                "`convoflow phone-numbers add`)",
            )
        recipient = self._recipient(message, conversation)
        if not recipient:
            return _failure("no_recipient", "no recipient: the conversation has no wa_id")
        try:
            body = build_message_body(
                message,
                to=recipient,
                biz_opaque_callback_data=tracker_for(delivery.outbox),
            )
        except OutboundMessageError as exc:
            return _failure("invalid_message", f"the message cannot be sent on WhatsApp: {exc}")
        return await self._send(creds, body, delivery)

    async def _send(
        self, creds: PhoneCredentials, body: dict[str, Any], delivery: Delivery
    ) -> SendResult:
        try:
            wamid = await self.client.send_message(creds.phone_number_id, creds.access_token, body)
        except GraphError as exc:
            attempt = int(delivery.outbox["attempts"] or 1)
            result = send_result_for(exc, attempt)
            if classify(exc.code, exc.subcode, exc.http_status).action is Action.ALERT:
                log.error(
                    "whatsapp number cannot send: check its configuration",
                    phone_number_id=creds.phone_number_id,
                    code=exc.code,
                    error=exc.message,
                )
            return result
        return SendResult("sent", provider_message_id=wamid)

    @staticmethod
    def _recipient(message: dict[str, Any], conversation: Any) -> str | None:
        target = message.get("to")
        # `{"phone_number": ...}` from the send steps; a bare string from the messages API.
        override = (
            text(target) if isinstance(target, str) else text(obj(target).get("phone_number"))
        )
        if override:
            return recipient_digits(override)
        if conversation is None:
            return None
        return text(conversation["wa_id"])

    async def send_in_transaction(
        self, conn: AsyncConnection, delivery: Delivery, now: datetime
    ) -> SendResult:
        raise NotImplementedError("WhatsApp sends are network calls, outside a transaction")


@dataclass(frozen=True)
class Tracker:
    execution_id: str | None
    outbox_key: str | None


def tracker_for(outbox: Any) -> str | None:
    """biz_opaque_callback_data: Meta echoes it on every status webhook of the message.
    The outbox key lets a status settle an attempt whose answer a crash lost (no resend,
    engine/send_record.py); the execution id lets an asynchronous `failed` (e.g. 131047
    after acceptance) find its execution."""
    execution_id, key = outbox["execution_id"], outbox["idempotency_key"]
    if not execution_id and not key:
        return None
    value = orjson.dumps({"execution_id": execution_id, "outbox_key": key}).decode()
    return value if len(value) <= 512 else None


def parse_tracker(value: str | None) -> Tracker:
    """What `tracker_for` wrote; a bare string is an execution id (what we sent before)."""
    if not value:
        return Tracker(None, None)
    if value.startswith("{"):
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            return Tracker(text(data.get("execution_id")), text(data.get("outbox_key")))
    return Tracker(value[:64], None)
