"""Request bodies of the WhatsApp endpoints, in Kapso's envelopes
(`whatsapp_phone_number`, `whatsapp_webhook`, `whatsapp_conversation`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from convoflow.api.models import Body, JsonObject, Name, PhoneNumberId

Secret = Annotated[str, Field(min_length=1, max_length=4000)]
Url = Annotated[str, Field(min_length=1, max_length=2000)]
MetaId = Annotated[str, Field(min_length=1, max_length=64)]


class PhoneNumberFields(Body):
    name: Name | None = None
    kind: Literal["production", "sandbox"] | None = None
    phone_number_id: PhoneNumberId
    business_account_id: MetaId | None = None
    display_phone_number: Annotated[str, Field(max_length=32)] | None = None
    access_token: Secret
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
    access_token: Secret | None = None
    app_secret: Secret | None = None
    webhook_verify_token: Secret | None = None
    verify_token: Secret | None = None
    inbound_processing_enabled: bool | None = None


class PhoneNumberUpdateBody(Body):
    whatsapp_phone_number: PhoneNumberUpdateFields


EventName = Annotated[str, Field(min_length=1, max_length=64)]


class WebhookFields(Body):
    url: Url | None = None
    phone_number_id: PhoneNumberId | None = None
    kind: Literal["kapso", "meta"] | None = None
    secret_key: Secret | None = None
    active: bool | None = None
    events: Annotated[list[EventName], Field(max_length=50)] | None = None
    headers: dict[str, Annotated[str, Field(max_length=2000)]] | None = None
    payload_version: Literal["v1", "v2"] | None = None
    buffer_enabled: bool | None = None
    buffer_window_seconds: int | None = None
    max_buffer_size: Annotated[int, Field(ge=1, le=100)] | None = None
    buffer_events: Annotated[list[EventName], Field(max_length=50)] | None = None
    inactivity_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None


class WebhookBody(Body):
    whatsapp_webhook: WebhookFields


class WebhookTestBody(Body):
    event_type: EventName | None = None


class ConversationFields(Body):
    status: Literal["active", "ended"]


class ConversationUpdateBody(Body):
    whatsapp_conversation: ConversationFields


class MessageSendBody(Body):
    """Meta's message body, plus where to send from: `phone_number_id` and/or
    `conversation_id` (then `to` defaults to the conversation's user)."""

    model_config = ConfigDict(extra="allow")

    phone_number_id: PhoneNumberId | None = None
    conversation_id: Annotated[str, Field(max_length=64)] | None = None
    to: Annotated[str, Field(max_length=64)] | None = None
    type: Annotated[str, Field(max_length=32)] | None = None

    def meta(self) -> JsonObject:
        return self.model_dump(exclude_none=True)
