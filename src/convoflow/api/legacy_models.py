"""Request bodies of the older `/api/v1` (flows, flow_executions), in its `flow` envelope."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from convoflow.api.models import (
    Body,
    JsonObject,
    Name,
    Text,
    WorkflowStatus,
    present,
    schema_rules,
)


class FlowFields(Body):
    name: Name | None = None
    description: Text | None = None
    definition: JsonObject | None = None
    status: WorkflowStatus | None = None


class FlowBody(Body):
    flow: FlowFields


class FlowCreateFields(FlowFields):
    name: Name


class FlowCreateBody(Body):
    flow: FlowCreateFields


# Kapso documents the old API's Rails enum integers 0-3; 4 (handoff) and the names are ours.
ExecutionStatusFilter = Literal[
    "0", "1", "2", "3", "4", "running", "waiting", "ended", "failed", "handoff"
]


class LegacyStartBody(Body):
    phone_number: Annotated[str, Field(min_length=1, max_length=32)]
    whatsapp_config_id: Annotated[str, Field(max_length=64)] | int | None = None
    variables: JsonObject = {}
    context: JsonObject = {}
    initial_data: JsonObject = {}


class LegacyResumeBody(Body):
    model_config = schema_rules(anyOf=[present("input"), present("message")])

    input: Annotated[str, Field(max_length=100_000)] | None = None
    message: JsonObject | None = None
