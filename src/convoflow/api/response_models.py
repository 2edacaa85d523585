"""Success bodies of the routes Kapso's OpenAPI does not document, for `/openapi.json`:
our extensions (`/healthz`, `/platform/v1/api_keys`), Kapso's older flows API
(`/api/v1`, documented only by its reference pages), Meta's webhook and Kapso's Meta
proxy. Routes still build their bodies in api/views.py and api/legacy_views.py (no
response_model: bodies are not re-validated on the way out); these models only describe
them, and schemathesis checks every answer against them (tests/api/test_schemathesis.py).
Routes Kapso documents take Kapso's schemas instead (api/kapso_spec.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Described(BaseModel):
    # Bodies may grow fields; a client must not break on one it does not know.
    model_config = ConfigDict(extra="allow")


class Health(Described):
    status: Literal["ok"]
    database: str = Field(description="The database's dialect: sqlite or postgresql")
    checked_seconds_ago: float = Field(
        description="How long ago the database last answered: the background ping's "
        "result (at most 1.5 s old), or about 0 after an inline ping"
    )


class ApiKey(Described):
    id: str
    name: str | None
    prefix: str = Field(description="The key's first characters, to recognise it")
    created_at: datetime
    revoked_at: datetime | None
    active: bool


class CreatedApiKey(ApiKey):
    key: str = Field(description="The key itself: in this answer only (only its hash is kept)")


class CreatedApiKeyData(Described):
    data: CreatedApiKey


class ApiKeyList(Described):
    data: list[ApiKey]


# /api/v1: Kapso's older flows API (api/legacy_views.py).


class Problem(Described):
    code: str
    message: str
    node_id: str | None = None
    field: str | None = None
    edge_id: str | None = None


class Validation(Described):
    """The problems of the flow's current definition (a draft may have some)."""

    valid: bool
    errors: list[Problem]
    warnings: list[Problem]


class CreatedBy(Described):
    id: str | None
    name: str | None


class FlowSummary(Described):
    id: str
    name: str
    description: str | None
    status: Literal["draft", "active", "archived"]
    project_id: str
    created_at: datetime
    updated_at: datetime
    created_by: CreatedBy
    last_executed_at: datetime | None
    execution_count: int


class Flow(FlowSummary):
    validation: Validation


class WhatsappConfig(Described):
    id: str
    name: str | None
    phone_number: str | None


class FlowWithDefinition(Flow):
    definition: dict[str, Any]
    whatsapp_configs: list[WhatsappConfig]


class FlowData(Described):
    data: Flow


class FlowList(Described):
    data: list[Flow]


class FlowWithDefinitionData(Described):
    data: FlowWithDefinition


class CurrentStep(Described):
    id: str
    name: str
    step_type: str | None


class FlowExecution(Described):
    id: str
    flow_id: str
    status: Literal["running", "waiting", "ended", "failed", "handoff"]
    started_at: datetime
    ended_at: datetime | None
    last_event_at: datetime
    tracking_id: str | None
    current_step: CurrentStep | None
    execution_context: dict[str, Any]
    variables: dict[str, Any]
    flow: FlowSummary | None


class FlowExecutionData(Described):
    data: FlowExecution


class FlowExecutionList(Described):
    data: list[FlowExecution]


class FlowExecutionQueued(Described):
    flow_id: str
    tracking_id: str | None
    message: str


# Meta's side: its webhook, and Kapso's proxy of its send endpoint.


class WebhookReceipt(Described):
    received: Literal[True]


class WebhookAck(Described):
    """What was stored; counts by kind beside `received`."""

    data: WebhookReceipt


class Success(Described):
    success: Literal[True]


class SuccessData(Described):
    data: Success


class MetaContact(Described):
    input: str
    wa_id: str


class MetaMessageId(Described):
    id: str


class MetaSendResult(Described):
    """The Graph API's answer to a send, as Meta gives it."""

    messaging_product: Literal["whatsapp"]
    contacts: list[MetaContact]
    messages: list[MetaMessageId]


# The console's extensions (api/routes/editor.py, api/routes/sandbox.py).


class NodeTypeInfo(Described):
    type: str
    label: str
    icon: str
    stepable_type: str
    key_fields: list[str]
    advanced_fields: list[str]
    limits: dict[str, int]
    config_schema: dict[str, Any] = Field(description="The node config's JSON Schema")


class NodeTypeList(Described):
    data: list[NodeTypeInfo]


class ValidationData(Described):
    data: Validation


class WorkflowVersion(Described):
    id: str
    number: int = Field(description="1 for the first saved definition, then +1 per save")
    created_at: datetime
    current: bool = Field(description="Whether this is the workflow's current definition")
    node_count: int
    edge_count: int


class WorkflowVersionList(Described):
    data: list[WorkflowVersion]


class WorkflowVersionDetail(WorkflowVersion):
    definition: Any = Field(description="The definition as saved (Kapso's shape)")
    validation: Validation


class WorkflowVersionData(Described):
    data: WorkflowVersionDetail


class SandboxMessage(Described):
    id: str
    direction: Literal["inbound", "outbound"]
    message_type: str
    content: Any
    execution_id: str | None
    created_at: datetime


class SandboxTranscript(Described):
    data: list[SandboxMessage]


class SandboxSaid(Described):
    id: str | None = Field(description="The stored message's id")


class SandboxSaidData(Described):
    data: SandboxSaid


class SkippedTimer(Described):
    execution_id: str
    purpose: Literal["wait_timeout", "delay"] | str = Field(
        description="wait_timeout (a wait_for_response timeout) or delay (a send_text delay)"
    )
    due_at: str = Field(description="When it would have fired (ISO 8601)")


class SkipWaitResult(Described):
    fired: list[SkippedTimer] = Field(description="The timers that fired now, soonest first")
    still_pending: list[SkippedTimer] = Field(description="Timers left for their time")


class SandboxTimers(Described):
    data: list[SkippedTimer]


class SkipWaitData(Described):
    data: SkipWaitResult


# A workflow's test suite and its runs (api/routes/test_suites.py).


class TestSuiteInfo(Described):
    workflow_id: str
    yaml: str = Field(description='The suite as saved ("" when there is none)')
    updated_at: datetime | None


class TestSuiteData(Described):
    data: TestSuiteInfo


class TestCaseResult(Described):
    name: str
    outcome: Literal["passed", "failed", "error", "skipped"]
    seconds: float
    step: int | None = Field(description="The step that failed or could not run (1-based)")
    step_text: str = Field(description="That step as its YAML line")
    lines: list[str] = Field(description="The diff of expected against actual, or the reason")


class TestRun(Described):
    workflow_id: str
    workflow_version_id: str | None = Field(description="The definition version that ran")
    suite: str
    passed: bool = Field(description="Every case passed or was skipped")
    counts: dict[str, int] = Field(description="Cases by outcome")
    seconds: float
    cases: list[TestCaseResult]


class TestRunData(Described):
    data: TestRun


# /platform/v1/provider_models beyond Kapso's list (api/routes/provider_models.py).


class ProviderModelInfo(Described):
    id: str
    name: str
    provider: Literal["openai", "anthropic"] = Field(description="The API it speaks")
    model: str
    base_url: str
    has_api_key: bool = Field(description="The key itself is write-only")
    timeout_seconds: float | None
    created_at: datetime
    updated_at: datetime


class ProviderModelData(Described):
    data: ProviderModelInfo
