"""The WhatsApp Cloud API channel.

- signature: `check_signature(body, header, app_secrets) -> SignatureCheck`,
  `verify_subscription(params, verify_tokens) -> challenge | None`, `sign(secret, body)`
- inbound: `parse_webhook(body) -> ParsedWebhook` (messages, statuses, errors, ...)
- outbound: `build_message_body(message, to=..., biz_opaque_callback_data=...)`
- errors: `GraphError`, `classify(code, subcode, http_status) -> Policy`,
  `send_result_for(error, attempt) -> SendResult`
- client: `GraphClient.send_message / mark_read`
- channel: `WhatsAppChannel(client, credentials)`, `PhoneCredentials`
"""

from __future__ import annotations

from convoflow.channels.whatsapp.channel import (
    CredentialsLookup,
    PhoneCredentials,
    WhatsAppChannel,
)
from convoflow.channels.whatsapp.client import GraphClient
from convoflow.channels.whatsapp.errors import Action, GraphError, classify, send_result_for
from convoflow.channels.whatsapp.inbound import (
    InboundMessage,
    ParsedWebhook,
    StatusUpdate,
    parse_webhook,
)
from convoflow.channels.whatsapp.outbound import OutboundMessageError, build_message_body
from convoflow.channels.whatsapp.signature import (
    SIGNATURE_HEADER,
    SignatureCheck,
    check_signature,
    sign,
    verify_subscription,
)

__all__ = [
    "SIGNATURE_HEADER",
    "Action",
    "CredentialsLookup",
    "GraphClient",
    "GraphError",
    "InboundMessage",
    "OutboundMessageError",
    "ParsedWebhook",
    "PhoneCredentials",
    "SignatureCheck",
    "StatusUpdate",
    "WhatsAppChannel",
    "build_message_body",
    "check_signature",
    "classify",
    "parse_webhook",
    "send_result_for",
    "sign",
    "verify_subscription",
]
