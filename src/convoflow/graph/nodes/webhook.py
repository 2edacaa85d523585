"""``webhook``: call an external HTTP endpoint with templated url, headers and body."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import field_validator

from convoflow.graph.nodes._base import NodeConfig, NodeType, choice, problem, require_text

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MAX_REQUEST_TIMEOUT_SECONDS = 60
MAX_ATTEMPTS = 10
DEFAULT_ERROR_VARIABLE = "webhook_error"


class WebhookConfig(NodeConfig):
    url: str
    method: Annotated[
        Literal["GET", "POST", "PUT", "PATCH", "DELETE"],
        choice("invalid_webhook_method", METHODS, upper=True),
    ] = "POST"
    headers: dict[str, Any] = {}
    body_template: Any = None
    save_response_to: str | None = None
    provider_model_id: str | None = None
    provider_model_name: str | None = None
    ai_field_config: dict[str, Any] = {}
    # Our extensions: failure handling and request limits (see DECISIONS.md).
    continue_on_error: bool = False
    save_error_to: str | None = None
    timeout_seconds: int = 10
    max_attempts: int = 3

    check_url = field_validator("url")(require_text)

    @field_validator("headers", mode="before")
    @classmethod
    def _legacy_json_headers(cls, value: Any) -> Any:
        # Legacy Kapso webhook actions export headers as a JSON string.
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError:
                raise problem("invalid_config", "is a string but not a JSON object") from None
        return value

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout_in_range(cls, value: int) -> int:
        if not 1 <= value <= MAX_REQUEST_TIMEOUT_SECONDS:
            raise problem(
                "invalid_timeout",
                "is {value}; must be between 1 and {high} seconds",
                value=value,
                high=MAX_REQUEST_TIMEOUT_SECONDS,
            )
        return value

    @field_validator("max_attempts")
    @classmethod
    def _attempts_in_range(cls, value: int) -> int:
        if not 1 <= value <= MAX_ATTEMPTS:
            raise problem(
                "invalid_config",
                "is {value}; must be between 1 and {high}",
                value=value,
                high=MAX_ATTEMPTS,
            )
        return value

    @property
    def error_variable(self) -> str:
        return self.save_error_to or DEFAULT_ERROR_VARIABLE

    def written_variables(self) -> frozenset[str]:
        names = {self.save_response_to} if self.save_response_to else set()
        if self.continue_on_error or self.save_error_to:
            names.add(self.error_variable)
        return frozenset(names)


NODE = NodeType(
    name="webhook",
    config=WebhookConfig,
    display_name="Webhook",
    stepable_type="FlowActionStep",
    icon="globe",
    key_fields=("method", "url"),
)
