"""Request bodies of the WhatsApp endpoints, in Kapso's envelopes
(`whatsapp_phone_number`, `whatsapp_webhook`, `whatsapp_conversation`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, WithJsonSchema

from convoflow.api.models import (
    INTEGRAL,
    STORABLE_JSON_REF,
    Body,
    JsonObject,
    Name,
    PhoneNumberId,
    present,
    schema_rules,
)
from convoflow.engine.egress import HTTP_URL_PATTERN
from convoflow.services.project_webhooks.events import EVENTS
from convoflow.services.project_webhooks.management import ACCEPTED_ONLY

Secret = Annotated[str, Field(min_length=1, max_length=4000)]
# Meta's tokens are printable ASCII (services/whatsapp/phone_numbers.py refuses anything else).
AccessToken = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^[\x21-\x7e]+$")]
Url = Annotated[str, Field(min_length=1, max_length=2000)]
MetaId = Annotated[str, Field(min_length=1, max_length=64)]
# What services/whatsapp/phone_numbers.py accepts as Meta's ids (said here for the schema).
MetaNumberId = Annotated[str, WithJsonSchema({"type": "string", "pattern": "^[0-9]{1,64}$"})]


class PhoneNumberFields(Body):
    name: Name | None = None
    kind: Literal["production", "sandbox"] | None = None
    phone_number_id: MetaNumberId
    business_account_id: MetaNumberId | None = None
    display_phone_number: Annotated[str, Field(max_length=32)] | None = None
    access_token: AccessToken
    # convoflow verifies Meta's signatures itself, so it needs the app secret (Kapso
    # uses its own Meta app and has no such field).
    app_secret: Secret | None = None
    webhook_verify_token: Secret | None = None
    verify_token: Secret | None = None
    inbound_processing_enabled: bool = True


class PhoneNumberCreateBody(Body):
    whatsapp_phone_number: PhoneNumberFields


class PhoneNumberUpdateFields(Body):
    name: Name | None = None
    business_account_id: MetaId | None = None
    display_phone_number: Annotated[str, Field(max_length=32)] | None = None
    access_token: AccessToken | None = None
    app_secret: Secret | None = None
    webhook_verify_token: Secret | None = None
    verify_token: Secret | None = None
    inbound_processing_enabled: bool | None = None


class PhoneNumberUpdateBody(Body):
    whatsapp_phone_number: PhoneNumberUpdateFields


# webhook_api checks these (every problem at once, with what it expects); the published
# schema says the same, so the checks are written once as code and once as schema here.
_EVENT = {"type": "string", "enum": [*EVENTS, *ACCEPTED_ONLY]}
EventName = Annotated[str, Field(min_length=1, max_length=64)]
EventList = Annotated[
    list[EventName],
    Field(max_length=50),
    WithJsonSchema({"type": "array", "items": _EVENT, "minItems": 1, "maxItems": 50}),
]
WebhookUrl = Annotated[
    str,
    Field(max_length=2000),
    WithJsonSchema({"type": "string", "maxLength": 2000, "pattern": HTTP_URL_PATTERN}),
]
# Kapso's "meta" (raw forwarding) kind is refused by webhook_api (docs/api.md).
WebhookKind = Annotated[
    Literal["kapso", "meta"], WithJsonSchema({"type": "string", "enum": ["kapso"]})
]


class WebhookFields(Body):
    url: WebhookUrl | None = None
    phone_number_id: PhoneNumberId | None = None
    kind: WebhookKind | None = None
    secret_key: Secret | None = None
    active: bool | None = None
    events: EventList | None = None
    headers: dict[str, Annotated[str, Field(max_length=2000)]] | None = None
    payload_version: Literal["v1", "v2"] | None = None
    buffer_enabled: bool | None = None
    buffer_window_seconds: Annotated[int, Field(ge=1, le=60), INTEGRAL] | None = None
    max_buffer_size: Annotated[int, Field(ge=1, le=100), INTEGRAL] | None = None
    buffer_events: (
        Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)] | None
    ) = None
    inactivity_minutes: Annotated[int, Field(ge=1, le=1440), INTEGRAL] | None = None


class WebhookCreateFields(WebhookFields):
    url: WebhookUrl
    events: EventList


class WebhookBody(Body):
    whatsapp_webhook: WebhookFields


class WebhookCreateBody(Body):
    whatsapp_webhook: WebhookCreateFields


class WebhookTestBody(Body):
    event_type: EventName | None = None


class ConversationFields(Body):
    status: Literal["active", "ended"]


class ConversationUpdateBody(Body):
    whatsapp_conversation: ConversationFields


# Meta's message types; a message carries the object named by its type.
MESSAGE_TYPES = (
    "text", "template", "image", "audio", "video", "document", "sticker", "location",
    "contacts", "interactive", "reaction",
)  # fmt: skip
_RECEIPT = {
    "required": ["status", "message_id"],
    "properties": {"status": {"const": "read"}, "message_id": {"type": "string", "minLength": 1}},
}
# recipient_digits keeps something of `to` besides formatting.
_TO = {"type": "string", "maxLength": 64, "pattern": "[^\\s()+\\-.\\x00]"}


def _message(recipient: dict[str, Any]) -> dict[str, Any]:
    """A Meta message (send_human_message / meta_body) or a read receipt, as JSON Schema."""
    kinds = [
        {
            "required": ["type", kind],
            "properties": {
                "type": {"const": kind},
                kind: {
                    "anyOf": [
                        {"type": "object", "minProperties": 1},
                        {"type": "array", "minItems": 1},
                    ]
                    + ([{"type": "string", "minLength": 1}] if kind == "text" else [])
                },
            },
        }
        for kind in MESSAGE_TYPES
    ]
    return {"anyOf": [_RECEIPT, {"allOf": [recipient, {"anyOf": kinds}]}]}


class MessageSendBody(Body):
    """Meta's message body, plus where to send from: `phone_number_id` and/or
    `conversation_id` (then `to` defaults to the conversation's user)."""

    model_config = ConfigDict(extra="allow") | schema_rules(
        additionalProperties={"$ref": STORABLE_JSON_REF},
        allOf=[
            {"anyOf": [present("phone_number_id"), present("conversation_id")]},
            _message({"anyOf": [present("to"), present("conversation_id")]}),
        ],
    )

    phone_number_id: PhoneNumberId | None = None
    conversation_id: Annotated[str, Field(max_length=64)] | None = None
    to: Annotated[str, Field(max_length=64)] | None = None
    type: Annotated[str, Field(max_length=32)] | None = None

    def meta(self) -> JsonObject:
        return self.model_dump(exclude_none=True)


class ProxySendBody(MessageSendBody):
    """The Meta proxy's body: Meta's, the number is in the path."""

    model_config = schema_rules(
        additionalProperties={"$ref": STORABLE_JSON_REF}, **_message(present("to"))
    )
