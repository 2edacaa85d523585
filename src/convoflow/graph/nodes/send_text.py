"""``send_text``: send a WhatsApp text message, optionally after a delay."""

from __future__ import annotations

from pydantic import field_validator

from convoflow.graph.nodes._base import AiText, MessageFields, NodeType, problem, too_long

MAX_MESSAGE_LENGTH = 4096  # WhatsApp text body limit


class SendTextConfig(MessageFields):
    message: AiText
    # Our extension beyond Kapso's schema: a pause before sending; > 0 makes it a waiting node.
    delay_seconds: int | None = None

    @field_validator("message")
    @classmethod
    def _message_fits(cls, value: str | dict[str, object]) -> str | dict[str, object]:
        if isinstance(value, str):
            if not value.strip():
                raise problem("empty_required_field", "must not be empty")
            if len(value) > MAX_MESSAGE_LENGTH:
                raise too_long("message_too_long", value, MAX_MESSAGE_LENGTH)
        return value

    @field_validator("delay_seconds")
    @classmethod
    def _delay_not_negative(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise problem("invalid_delay", "is {value}; must be 0 or more", value=value)
        return value

    def is_waiting(self) -> bool:
        return bool(self.delay_seconds)


NODE = NodeType(
    name="send_text",
    config=SendTextConfig,
    display_name="Send Text Message",
    stepable_type="FlowActionStep",
    icon="message",
    key_fields=("message",),
)
