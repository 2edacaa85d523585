"""``emit_event``: emit a Project Event (``conversation.csat_scored`` ...) with flat properties."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from pydantic import field_validator
from pydantic_core import PydanticCustomError

from convoflow.graph.nodes._base import Loc, NodeConfig, NodeType, problem, validate_with_extra

EVENT_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$")
MAX_EVENT_NAME_LENGTH = 128
MAX_PROPERTIES = 25
MAX_PROPERTIES_BYTES = 8 * 1024
MAX_PROPERTY_KEY_LENGTH = 64
MAX_STRING_VALUE_BYTES = 1024


def event_name_error(name: str) -> str | None:
    """Why ``name`` is not a valid Project Event name, or None."""
    if not EVENT_NAME_PATTERN.match(name) or len(name) > MAX_EVENT_NAME_LENGTH:
        return (
            f"is {name!r}; must be lowercase dotted snake_case (e.g. order.paid) "
            f"and at most {MAX_EVENT_NAME_LENGTH} characters"
        )
    return None


def _property_problems(properties: dict[Any, Any]) -> list[tuple[Loc, PydanticCustomError]]:
    found: list[tuple[Loc, PydanticCustomError]] = []
    if len(properties) > MAX_PROPERTIES:
        error = problem(
            "too_many_project_event_properties",
            "has {count} keys; at most {limit} allowed",
            count=len(properties),
            limit=MAX_PROPERTIES,
        )
        found.append(((), error))
    size = len(json.dumps(properties, default=str, ensure_ascii=False).encode())
    if size > MAX_PROPERTIES_BYTES:
        error = problem(
            "project_event_properties_too_large",
            "is {size} bytes as JSON; at most {limit}",
            size=size,
            limit=MAX_PROPERTIES_BYTES,
        )
        found.append(((), error))
    for key, value in properties.items():
        found += [((str(key),), error) for error in _one_property_problems(str(key), value)]
    return found


def _one_property_problems(key: str, value: Any) -> list[PydanticCustomError]:
    found: list[PydanticCustomError] = []
    if not key.strip():
        found.append(problem("empty_project_event_property_key", "key must not be empty"))
    if len(key) > MAX_PROPERTY_KEY_LENGTH:
        found.append(
            problem(
                "project_event_property_key_too_long",
                "key is {length} characters; at most {limit}",
                length=len(key),
                limit=MAX_PROPERTY_KEY_LENGTH,
            )
        )
    scalar = value is None or isinstance(value, str | int | float | bool)
    if not scalar or (isinstance(value, float) and not math.isfinite(value)):
        found.append(
            problem(
                "invalid_project_event_property_value", "must be a string, number, boolean or null"
            )
        )
    if isinstance(value, str) and len(value.encode()) > MAX_STRING_VALUE_BYTES:
        found.append(
            problem(
                "project_event_property_string_too_large",
                "is {size} bytes; at most {limit}",
                size=len(value.encode()),
                limit=MAX_STRING_VALUE_BYTES,
            )
        )
    return found


class EmitEventConfig(NodeConfig):
    event_name: str
    properties: dict[str, Any] = {}
    occurred_at: str | None = None  # ISO 8601 or a template; blank means "now"

    @field_validator("event_name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not value.strip():
            raise problem("empty_required_field", "must not be empty")
        error = event_name_error(value)
        if error is not None:
            raise problem("invalid_project_event_name", "{error}", error=error)
        return value

    @field_validator("properties", mode="wrap")
    @classmethod
    def _valid_properties(cls, value: Any, handler: Callable[[Any], Any]) -> Any:
        extra = _property_problems(value) if isinstance(value, dict) else []
        return validate_with_extra("properties", value, handler, extra)


NODE = NodeType(
    name="emit_event",
    config=EmitEventConfig,
    display_name="Emit Event",
    stepable_type="FlowActionStep",
    icon="bolt",
    key_fields=("event_name",),
)
