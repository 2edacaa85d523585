"""Kapso's older flows API (`/api/v1`): flows and flow_executions over the same data as
workflows and workflow_executions (DECISIONS.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from convoflow.api import legacy_views
from convoflow.api import response_models as rm
from convoflow.api.auth import CurrentActor, EngineDep, get_limits
from convoflow.api.bodies import api_router
from convoflow.api.errors import ApiError
from convoflow.api.legacy_models import (
    ExecutionStatusFilter,
    FlowBody,
    FlowCreateBody,
    LegacyResumeBody,
    LegacyStartBody,
)
from convoflow.api.models import WorkflowStatus
from convoflow.api.openapi import error_responses, success
from convoflow.api.params import Timestamp
from convoflow.api.responses import data, ok
from convoflow.api.routes.executions import WriteDep, add_headers, request_meta
from convoflow.engine.signals import UserInput
from convoflow.services.executions import reads as execution_reads
from convoflow.services.executions.commands import ExecutionInfo, StartRequest
from convoflow.services.executions.reads import ExecutionFilters
from convoflow.services.whatsapp import phone_numbers
from convoflow.services.workflows import definitions
from convoflow.services.workflows import lifecycle as workflow_api
from convoflow.services.workflows.lifecycle import WorkflowChanges

router = api_router(tags=["Legacy flows API"])


@router.get("/flows", summary="List flows", responses=success(rm.FlowList))
async def list_flows(
    actor: CurrentActor,
    engine: EngineDep,
    status_eq: Annotated[WorkflowStatus | None, Query(alias="q[status_eq]")] = None,
) -> Response:
    rows = await workflow_api.list_workflows(engine, actor, status=status_eq)
    reports = await workflow_api.validations(engine, rows)
    return data([legacy_views.flow(row, reports[str(row["id"])]) for row in rows])


@router.post("/flows", status_code=201, summary="Create flow", responses=success(rm.FlowData, 201))
async def create_flow(body: FlowCreateBody, actor: CurrentActor, engine: EngineDep) -> Response:
    fields = body.flow
    row = await workflow_api.create(
        engine,
        actor,
        name=fields.name,
        description=fields.description,
        definition=fields.definition,
    )
    validation = await workflow_api.validation(engine, row)
    return data(legacy_views.flow(row, validation), status_code=201)


@router.get("/flows/{flow_id}", summary="Get flow", responses=success(rm.FlowData))
async def get_flow(flow_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    row = await workflow_api.get_workflow(engine, actor, flow_id)
    return data(legacy_views.flow(row, await workflow_api.validation(engine, row)))


@router.get(
    "/flows/{flow_id}/definition",
    summary="Get flow with definition",
    responses=success(rm.FlowWithDefinitionData),
)
async def get_flow_definition(flow_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    row, definition = await workflow_api.get_with_definition(engine, actor, flow_id)
    numbers = await phone_numbers.numbers_of_workflow(engine, actor, flow_id)
    return data(
        {
            **legacy_views.flow(row, await workflow_api.validation(engine, row)),
            "definition": definitions.legacy(definition),
            "whatsapp_configs": [legacy_views.whatsapp_config(number) for number in numbers],
        }
    )


@router.patch(
    "/flows/{flow_id}",
    summary="Update flow",
    responses={**success(rm.FlowData), **error_responses(409)},
)
async def update_flow(
    flow_id: str, body: FlowBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    fields = body.flow
    changes = WorkflowChanges()
    if fields.name is not None:
        changes.name = fields.name
    if "description" in fields.model_fields_set:
        changes.description = fields.description
    if fields.definition is not None:
        changes.definition = fields.definition
    if fields.status is not None:
        changes.status = fields.status
    row = await workflow_api.update(engine, actor, flow_id, changes)
    return data(legacy_views.flow(row, await workflow_api.validation(engine, row)))


def _queued(info: ExecutionInfo) -> dict[str, Any]:
    return {
        "flow_id": info.row["workflow_id"],
        "tracking_id": info.row["tracking_id"],
        "message": "Flow execution queued",
    }


@router.post(
    "/flows/{flow_id}/executions",
    status_code=202,
    summary="Start flow execution",
    responses={**success(rm.FlowExecutionQueued, 202), **error_responses(409)},
)
async def start_flow_execution(
    flow_id: str, body: LegacyStartBody, request: Request, write: WriteDep
) -> Response:
    add_headers(request, get_limits(request).check_start(str(write.actor.key_id), flow_id))
    config_id = body.whatsapp_config_id
    start = StartRequest(
        phone_number=body.phone_number,
        whatsapp_config_id=str(config_id) if config_id is not None else None,
        variables=body.variables,
        context=body.context,
        initial_data=body.initial_data,
        request_meta=request_meta(request),
        number_field="whatsapp_config_id",
        config_field="whatsapp_config_id",
        config_id_may_be_ours=True,
    )
    return ok(_queued(await write.start(flow_id, start)), status_code=202)


@router.get(
    "/flows/{flow_id}/executions",
    summary="List flow executions",
    responses=success(rm.FlowExecutionList),
)
async def list_flow_executions(
    flow_id: str,
    actor: CurrentActor,
    engine: EngineDep,
    status_eq: Annotated[ExecutionStatusFilter | None, Query(alias="q[status_eq]")] = None,
    started_gteq: Annotated[Timestamp | None, Query(alias="q[started_at_gteq]")] = None,
    started_lteq: Annotated[Timestamp | None, Query(alias="q[started_at_lteq]")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    status = legacy_views.STATUS_CODES.get(status_eq or "", status_eq)
    filters = ExecutionFilters(
        status=status, created_after=started_gteq, created_before=started_lteq
    )
    infos = await execution_reads.list_numbered_page(
        engine, actor, flow_id, filters, page, per_page
    )
    return data([legacy_views.execution(info) for info in infos])


@router.get(
    "/flow_executions/{execution_id}",
    summary="Get flow execution",
    responses=success(rm.FlowExecutionData),
)
async def get_flow_execution(execution_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    info = await execution_reads.get_info(engine, actor, execution_id)
    return data(legacy_views.execution(info))


@router.post(
    "/flow_executions/{execution_id}/resume",
    summary="Resume flow execution",
    responses={**success(rm.FlowExecutionData), **error_responses(409)},
)
async def resume_flow_execution(
    execution_id: str, body: LegacyResumeBody, write: WriteDep
) -> Response:
    if body.input is None and body.message is None:
        raise ApiError(422, "send 'input' (the user's text) and/or 'message' (an object)")
    # DECISIONS.md: `input` is the user input; `message` is kept as last_user_message
    # and is the input itself when there is no `input`.
    value: Any = body.input if body.input is not None else body.message
    message = body.message if body.message is not None else {"type": "text", "text": body.input}
    user_input = UserInput(value=value, message=message, source="api")
    return data(legacy_views.execution(await write.resume(execution_id, user_input)))
