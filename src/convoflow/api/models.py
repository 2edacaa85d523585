"""Request bodies, shaped like Kapso's OpenAPI request schemas (envelopes included).

Unknown keys are ignored, as Kapso's Rails strong parameters do. Every model also checks
the values it keeps for what the databases cannot store: NUL characters and integers
beyond 64 bits; such a request gets a 422 naming the field instead of a 500. (Nesting is
bounded before this: every body is decoded by api/bodies.py, deeper than 64 levels is a
400.) The published schema says the same (no NUL in strings, 64-bit integers), so a
request that matches /openapi.json is accepted. Lengths match the columns they are
stored in.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from convoflow.engine.egress import HTTP_URL_PATTERN
from convoflow.services.project_webhooks.events import TRIGGERABLE_EVENTS

INT_LIMIT = 2**63
NO_NUL = "^[^\\x00]*$"
STORABLE_JSON_REF = "#/components/schemas/StorableJson"
# A JSON object check_json accepts; StorableJson is defined in api/openapi.py.
JsonObject = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": {"$ref": STORABLE_JSON_REF},
        }
    ),
]
JsonList = Annotated[
    list[Any], WithJsonSchema({"type": "array", "items": {"$ref": STORABLE_JSON_REF}})
]


# True while a request's body models are validated from a body that `check_json` already
# passed as a whole (api/bodies.py: a large body is decoded and checked in a worker
# process); then no part of it needs the walk again on the event loop.
BODY_STORABLE: ContextVar[bool] = ContextVar("body_storable", default=False)


def check_json(value: Any) -> None:
    """Raise ValueError when `value` holds something the store cannot keep."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("strings must not contain NUL (\\u0000) characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("strings must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not -INT_LIMIT <= value < INT_LIMIT:
            raise ValueError("integers must fit in 64 bits")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json(key)
            check_json(item)
    elif isinstance(value, list):
        for item in value:
            check_json(item)


def _no_nul_strings(schema: dict[str, Any]) -> None:
    """Say in the schema what check_json enforces on every string we keep."""
    if schema.get("type") == "string" and "pattern" not in schema and "enum" not in schema:
        schema["pattern"] = NO_NUL
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, ()):
            _no_nul_strings(option)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _no_nul_strings(schema[key])
    if schema.get("type") == "object" and "additionalProperties" in schema:
        schema.setdefault("propertyNames", {"pattern": NO_NUL})


def _schema_extra(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        _no_nul_strings(prop)


def present(*names: str) -> dict[str, Any]:
    """JSON Schema: each of `names` is sent, not null and not empty."""
    sent = {"not": {"enum": [None, ""]}}
    return {"required": list(names), "properties": {name: sent for name in names}}


def schema_rules(**rules: Any) -> ConfigDict:
    """Config adding `rules` (cross-field requirements the validators enforce) to the
    model's published schema."""

    def extra(schema: dict[str, Any]) -> None:
        _schema_extra(schema)
        schema.update(rules)

    return ConfigDict(json_schema_extra=extra)


class Body(BaseModel):
    # strict: a boolean is true or false and an integer is a JSON integer, as published
    # (pydantic would otherwise take 0, "yes" or "5").
    model_config = ConfigDict(extra="ignore", strict=True, json_schema_extra=_schema_extra)

    @model_validator(mode="after")
    def _storable(self) -> Any:
        if BODY_STORABLE.get():
            return self
        # Only what is kept: unknown keys are dropped, nested models check themselves.
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, list):
                value = [item for item in value if not isinstance(item, BaseModel)]
            if not isinstance(value, BaseModel):
                check_json(value)
        check_json(self.model_extra or {})
        return self


Name = Annotated[str, Field(min_length=1, max_length=200)]
Slug = Annotated[str, Field(max_length=200, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
Text = Annotated[str, Field(max_length=20_000)]
Url = Annotated[str, Field(max_length=2000, pattern=HTTP_URL_PATTERN)]


def _integral(value: Any) -> Any:
    """JSON Schema's integer includes 1.0; strict validation would refuse it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


INTEGRAL = BeforeValidator(_integral)
LockVersion = Annotated[int, Field(ge=0, lt=2**31), INTEGRAL]
PhoneNumberId = Annotated[str, Field(min_length=1, max_length=64)]
WorkflowStatus = Literal["draft", "active", "archived"]
ReadMode = Literal["disabled", "read_only", "read_with_typing"]


# --- workflows --------------------------------------------------------------------------


class WorkflowCreateFields(Body):
    name: Name
    slug: Slug | None = None
    description: Text | None = None
    definition: JsonObject | None = None


class WorkflowCreateBody(Body):
    workflow: WorkflowCreateFields


class ValidateBody(Body):
    """`POST /definitions/validate` (our extension): a definition being edited."""

    definition: JsonObject


class TestSuiteFields(Body):
    # A suite of 100 cases of a dozen steps fits many times over.
    yaml: Annotated[str, Field(max_length=200_000)]


class TestSuiteBody(Body):
    """`PUT /workflows/{id}/test_suite` (our extension): the suite's YAML text; "" clears it."""

    test_suite: TestSuiteFields


class SandboxMessageBody(Body):
    """What the sandbox user says: text, or a button's / list row's title or id."""

    text: Annotated[str, Field(min_length=1, max_length=4096)]


class SkipWaitBody(Body):
    """Which timers of a sandbox conversation fire now: all (no `seconds`), or those due
    within `seconds` of when their execution last changed."""

    seconds: Annotated[float, Field(gt=0, le=366 * 86_400)] | None = None


class WorkflowUpdateFields(Body):
    name: Name | None = None
    slug: Slug | None = None
    description: Text | None = None
    status: WorkflowStatus | None = None
    message_debounce_seconds: Annotated[int, Field(ge=0, le=86_400), INTEGRAL] | None = None
    inbound_message_read_mode: ReadMode | None = None
    lock_version: LockVersion | None = None
    definition: JsonObject | None = None


class WorkflowUpdateBody(Body):
    model_config = schema_rules(anyOf=[present("workflow"), present("flow")])

    workflow: WorkflowUpdateFields | None = None
    # Kapso's clients also send the older `flow` envelope on PATCH.
    flow: WorkflowUpdateFields | None = None

    @model_validator(mode="after")
    def _one_envelope(self) -> WorkflowUpdateBody:
        if self.workflow is None and self.flow is None:
            raise ValueError("expected the changes under 'workflow' (or 'flow')")
        return self

    @property
    def fields(self) -> WorkflowUpdateFields:
        result = self.workflow or self.flow
        assert result is not None
        return result


# --- triggers ---------------------------------------------------------------------------

TriggerType = Literal["inbound_message", "api_call", "whatsapp_event", "project_event"]
if TYPE_CHECKING:
    WhatsAppEvent = str
else:  # the names services/project_webhooks/events.py declares, as an enum in the schema
    WhatsAppEvent = Literal[TRIGGERABLE_EVENTS]
Scalar = str | int | float | bool


_FILTER = ("property_key", "operator", "property_value")


def _kind(name: str, **rules: Any) -> dict[str, Any]:
    return {**rules, "properties": {"trigger_type": {"const": name}, **rules.get("properties", {})}}


# services/workflows/triggers.py's rules per trigger_type, for the published schema.
_TRIGGER_RULES = [
    _kind("api_call"),
    _kind("inbound_message", **present("phone_number_id")),
    _kind("whatsapp_event", **present("event")),
    _kind(
        "project_event",
        required=["event_name"],
        properties={
            "event_name": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"}
        },
        anyOf=[
            {"properties": {name: {"type": "null"} for name in _FILTER}},
            {
                "required": list(_FILTER),
                "properties": {**present(*_FILTER)["properties"], "operator": {"const": "eq"}},
            },
            {
                "required": list(_FILTER),
                "properties": {
                    "property_key": {"type": "string"},
                    "operator": {"enum": ["lt", "lte", "gt", "gte"]},
                    "property_value": {"type": "number"},
                },
            },
        ],
    ),
]


class TriggerFields(Body):
    model_config = schema_rules(anyOf=_TRIGGER_RULES)

    trigger_type: TriggerType
    active: bool = True
    phone_number_id: PhoneNumberId | None = None
    event: WhatsAppEvent | None = None
    event_name: Annotated[str, Field(max_length=128)] | None = None
    property_key: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    operator: Literal["eq", "lt", "lte", "gt", "gte"] | None = None
    property_value: Annotated[Scalar, Field(union_mode="left_to_right")] | None = None


class TriggerCreateBody(Body):
    trigger: TriggerFields


class TriggerReplaceBody(Body):
    triggers: Annotated[list[TriggerFields], Field(max_length=100)]


class TriggerActiveFields(Body):
    active: bool


class TriggerUpdateBody(Body):
    trigger: TriggerActiveFields


# --- executions -------------------------------------------------------------------------


class ExecutionStartFields(Body):
    model_config = schema_rules(anyOf=[present("phone_number"), present("recipient")])

    phone_number: Annotated[str, Field(max_length=32)] | None = None
    recipient: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    phone_number_id: PhoneNumberId | None = None
    # 2**53: exact as a JSON Schema bound (pydantic writes bounds as floats).
    whatsapp_config_id: Annotated[int, Field(ge=0, le=2**53), INTEGRAL] | None = None
    variables: JsonObject = {}
    context: JsonObject = {}
    initial_data: JsonObject = {}

    @model_validator(mode="after")
    def _someone(self) -> ExecutionStartFields:
        if self.phone_number is None and self.recipient is None:
            raise ValueError("phone_number (E.164) or recipient (BSUID) is required")
        return self


class ExecutionStartBody(Body):
    workflow_execution: ExecutionStartFields


class ResumeMessage(Body):
    kind: Annotated[str, Field(max_length=64)] = "payload"
    data: str | JsonObject | JsonList


class ResumeBody(Body):
    message: ResumeMessage
    variables: JsonObject | None = None


class ExecutionStatusFields(Body):
    status: Literal["ended", "handoff", "waiting"]


class ExecutionUpdateBody(Body):
    workflow_execution: ExecutionStatusFields


# --- provider models (ours: Kapso only lists them) ---------------------------------------

ProviderKind = Literal["openai", "anthropic"]
ApiKey = Annotated[str, Field(min_length=1, max_length=4000)]
Timeout = Annotated[float, Field(gt=0, le=600)]


class ProviderModelCreateFields(Body):
    name: Name
    provider: ProviderKind = "openai"
    model: Name | None = None  # the provider's model id; default: name
    base_url: Url | None = None  # default: the provider's public API
    api_key: ApiKey | None = None  # write-only
    timeout_seconds: Timeout | None = None


class ProviderModelCreateBody(Body):
    provider_model: ProviderModelCreateFields


class ProviderModelUpdateFields(Body):
    name: Name | None = None
    provider: ProviderKind | None = None
    model: Name | None = None
    base_url: Url | None = None
    api_key: ApiKey | None = None  # null clears it
    timeout_seconds: Timeout | None = None


class ProviderModelUpdateBody(Body):
    provider_model: ProviderModelUpdateFields
