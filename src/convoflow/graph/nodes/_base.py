"""Shared building blocks of the per-node-type config models.

Limits are enforced with ``PydanticCustomError`` whose *type* is the stable problem code
(``button_title_too_long``, ``too_many_buttons``...). ``validation.py`` turns those errors
into ``Problem`` objects without having to know each node type's rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]


class TextLimit(NamedTuple):
    """A text field measured against a WhatsApp limit that Kapso does not enforce."""

    field: str
    length: int
    limit: int


def problem(code: str, message: str, **context: Any) -> PydanticCustomError:
    """An error whose type is the problem code; ``{name}`` in message is filled from context."""
    return PydanticCustomError(code, message, context or None)


def too_long(code: str, value: str, limit: int) -> PydanticCustomError:
    return problem(
        code, "is {length} characters; at most {limit} allowed", length=len(value), limit=limit
    )


def require_text(value: str) -> str:
    if not value.strip():
        raise problem("empty_required_field", "must not be empty")
    return value


def max_length(code: str, limit: int) -> Callable[[str | None], str | None]:
    """Field validator factory: reject strings longer than ``limit`` with ``code``."""

    def check(value: str | None) -> str | None:
        if isinstance(value, str) and len(value) > limit:
            raise too_long(code, value, limit)
        return value

    return check


def raise_problems(title: str, errors: Sequence[tuple[Loc, PydanticCustomError, Any]]) -> None:
    """Raise several errors at once (pydantic only lets a validator raise one otherwise)."""
    if errors:
        details = [InitErrorDetails(type=err, loc=loc, input=value) for loc, err, value in errors]
        raise ValidationError.from_exception_data(title, details)


def validate_with_extra(
    title: str,
    value: Any,
    handler: Callable[[Any], Any],
    extra: Iterable[tuple[Loc, PydanticCustomError]],
) -> Any:
    """Run the inner (item) validation and report its errors together with ``extra``.

    Used by wrap validators on lists: a list that has both too many items and an item
    that is too long must report both problems in one pass.
    """
    collected: list[tuple[Loc, PydanticCustomError, Any]] = [
        (loc, err, value) for loc, err in extra
    ]
    try:
        result = handler(value)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            rebuilt = PydanticCustomError(err["type"], err["msg"])
            collected.append((tuple(err["loc"]), rebuilt, err.get("input")))
        raise_problems(title, collected)
        raise  # unreachable: raise_problems always raises when collected is non-empty
    raise_problems(title, collected)
    return result


def choice(code: str, allowed: Iterable[str], *, upper: bool = False) -> BeforeValidator:
    """Reject a value outside ``allowed`` with a specific code (not pydantic's literal_error)."""
    options = tuple(allowed)

    def check(value: Any) -> Any:
        if upper and isinstance(value, str):
            value = value.upper()
        if value is not None and value not in options:
            raise problem(
                code,
                "is {value}; expected one of {options}",
                value=repr(value),
                options=", ".join(options),
            )
        return value

    return BeforeValidator(check)


def _ai_text(value: Any) -> Any:
    if isinstance(value, str | dict):
        return value
    raise problem("invalid_config", 'must be a string or an AI field object ({"$ai": {}})')


# A text field that may instead be resolved by an LLM at runtime (``{"$ai": {...}}``).
AiText = Annotated[str | dict[str, Any], BeforeValidator(_ai_text)]


class NodeConfig(BaseModel):
    """Base of every node config: tolerant of unknown keys so Kapso exports round-trip."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        # Kapso's definition responses send explicit nulls for unset optional fields;
        # a null must not override a non-null default such as temperature=0.0.
        if not isinstance(data, dict):
            return data
        cleaned = dict(data)
        for name, field in cls.model_fields.items():
            explicit_null = name in cleaned and cleaned[name] is None
            default = None if field.is_required() else field.get_default(call_default_factory=True)
            if explicit_null and default is not None:
                del cleaned[name]
        return cleaned

    def is_waiting(self) -> bool:
        """True when this config makes the node pause the execution (send_text's delay).
        A type whose every node pauses declares ``NodeType(waits=True)`` instead; ask
        ``graph.nodes.pauses`` for the answer of both."""
        return False

    def written_variables(self) -> frozenset[str]:
        """Names of ``vars`` this node writes (first path segment)."""
        return frozenset()

    def writes_any_variable(self) -> bool:
        """True when the node may write variables whose names are not knowable statically."""
        return False

    def text_limits(self) -> list[TextLimit]:
        """Text fields with WhatsApp limits that are linted (warnings), not rejected."""
        return []


class MessageFields(NodeConfig):
    """Fields every message-sending node accepts (sender, recipient override, AI fields)."""

    phone_number_id: str | None = None
    whatsapp_config_id: str | None = None
    to_phone_number: str | None = None
    provider_model_id: str | None = None
    provider_model_name: str | None = None
    ai_field_config: dict[str, Any] = {}


@dataclass(frozen=True)
class NodeType:
    """Everything declared about one node type, in its module ``graph/nodes/<name>.py``.

    The module's ``NODE`` is the only declaration: validation, the engine's step table
    (``engine/steps/<name>.py``, found by the same name), the default display name,
    Kapso's ``stepable_type`` and which types always pause (``WAITING_NODE_TYPES``) are
    all derived from it.
    """

    name: str
    config: type[NodeConfig]
    display_name: str  # what Kapso's editor shows for a node without its own name
    stepable_type: str  # Kapso's Ruby step class, as API clients see it
    # The console editor's icon hint (services/workflows/node_types.py; the console maps
    # it to one of its icons).
    icon: str
    # Reaching any node of this type pauses the execution (it waits for the user, a child
    # execution, ...), so a loop through it cannot spin; see graph/lints.py.
    waits: bool = False
    # The config fields a person recognises the node by: the editor shows them first.
    key_fields: tuple[str, ...] = ()
