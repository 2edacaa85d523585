"""What the console's editor needs beyond Kapso's API (our extensions, docs/api.md):
`GET /node_types`, the catalogue its palette and forms are built from, and
`POST /definitions/validate`, the problems of a graph being edited, before it is saved."""

from __future__ import annotations

from fastapi import Response

from convoflow.api.auth import CurrentActor, EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.models import ValidateBody
from convoflow.api.openapi import success
from convoflow.api.response_models import NodeTypeList, ValidationData
from convoflow.api.responses import data
from convoflow.services.workflows import definitions
from convoflow.services.workflows.node_types import catalogue

router = api_router(tags=["Editor"])


@router.get(
    "/node_types",
    summary="Node types: config JSON Schema, limits, labels (extension)",
    responses=success(NodeTypeList),
)
async def list_node_types(_actor: CurrentActor) -> Response:
    # Authenticated like every /platform/v1 route, although the catalogue is not secret:
    # one rule for the whole prefix is simpler to trust.
    return data(catalogue())


@router.post(
    "/definitions/validate",
    summary="Problems of a definition, unsaved (extension)",
    responses=success(ValidationData),
)
async def validate_definition(
    body: ValidateBody, _actor: CurrentActor, engine: EngineDep
) -> Response:
    report = await definitions.report_of(
        engine.cpu, body.definition, engine.runtime.settings.max_nodes
    )
    return data(report.to_dict())
