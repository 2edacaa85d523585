"""/platform/v1/workflows: list, create, read, definition, update, variables, and the
version history (our extension, docs/api.md)."""

from __future__ import annotations

from typing import Literal

from fastapi import Query, Response

from convoflow.api import views
from convoflow.api.auth import CurrentActor, EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.models import WorkflowCreateBody, WorkflowUpdateBody
from convoflow.api.openapi import error_responses, success
from convoflow.api.params import Timestamp
from convoflow.api.response_models import WorkflowVersionData, WorkflowVersionList
from convoflow.api.responses import data, no_content
from convoflow.services.common import UNSET
from convoflow.services.workflows import deletion, history
from convoflow.services.workflows import lifecycle as workflow_api
from convoflow.services.workflows.lifecycle import WorkflowChanges

router = api_router(tags=["Workflows"])


@router.get("/workflows", summary="List workflows")
async def list_workflows(
    actor: CurrentActor,
    engine: EngineDep,
    status: Literal["draft", "active", "archived"] | None = None,
    name_contains: str | None = Query(None, max_length=200),
    created_after: Timestamp | None = None,
    created_before: Timestamp | None = None,
) -> Response:
    rows = await workflow_api.list_workflows(
        engine,
        actor,
        status=status,
        name_contains=name_contains,
        created_after=created_after,
        created_before=created_before,
    )
    reports = await workflow_api.validations(engine, rows)
    return data([views.workflow(row, reports[str(row["id"])]) for row in rows])


@router.post("/workflows", status_code=201, summary="Create workflow (draft)")
async def create_workflow(
    body: WorkflowCreateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    fields = body.workflow
    row = await workflow_api.create(
        engine,
        actor,
        name=fields.name,
        slug=fields.slug,
        description=fields.description,
        definition=fields.definition,
    )
    return data(views.workflow(row, await workflow_api.validation(engine, row)), status_code=201)


@router.get("/workflows/{workflow_id}", summary="Retrieve workflow")
async def get_workflow(workflow_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    row = await workflow_api.get_workflow(engine, actor, workflow_id)
    return data(views.workflow(row, await workflow_api.validation(engine, row)))


@router.get("/workflows/{workflow_id}/definition", summary="Retrieve workflow definition")
async def get_definition(workflow_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    row, definition = await workflow_api.get_with_definition(engine, actor, workflow_id)
    validation = await workflow_api.validation(engine, row)
    return data({**views.workflow(row, validation), "definition": definition})


@router.patch("/workflows/{workflow_id}", summary="Update workflow", responses=error_responses(409))
async def update_workflow(
    workflow_id: str, body: WorkflowUpdateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    row = await workflow_api.update(engine, actor, workflow_id, changes_from(body))
    return data(views.workflow(row, await workflow_api.validation(engine, row)))


@router.delete(
    "/workflows/{workflow_id}",
    status_code=204,
    summary="Delete workflow (extension; 409 while executions are active unless force)",
    responses=error_responses(409),
)
async def delete_workflow(
    workflow_id: str,
    actor: CurrentActor,
    engine: EngineDep,
    force: bool = Query(False, description="End its running and waiting executions"),
) -> Response:
    await deletion.delete(engine, actor, workflow_id, force=force)
    return no_content()


def changes_from(body: WorkflowUpdateBody) -> WorkflowChanges:
    """Only the fields the client sent (a sent null clears description)."""
    fields = body.fields
    sent = fields.model_fields_set
    changes = WorkflowChanges(lock_version=fields.lock_version)
    for name in (
        "name",
        "slug",
        "description",
        "status",
        "message_debounce_seconds",
        "inbound_message_read_mode",
        "definition",
    ):
        value = getattr(fields, name)
        nullable = name in ("description", "message_debounce_seconds")
        if name in sent and (value is not None or nullable):
            setattr(changes, name, value)
        else:
            setattr(changes, name, UNSET)
    return changes


@router.get("/workflows/{workflow_id}/variables", summary="Get workflow variables")
async def get_variables(workflow_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    return data(
        views.workflow_variables(await workflow_api.workflow_variables(engine, actor, workflow_id))
    )


@router.get(
    "/workflows/{workflow_id}/versions",
    summary="List workflow definition versions, newest first (extension)",
    responses=success(WorkflowVersionList),
)
async def list_versions(
    workflow_id: str,
    actor: CurrentActor,
    engine: EngineDep,
    limit: int = Query(100, ge=1, le=500),
) -> Response:
    workflow, rows = await history.list_versions(engine, actor, workflow_id, limit)
    return data([views.workflow_version(row, workflow) for row in rows])


@router.get(
    "/workflows/{workflow_id}/versions/{version_id}",
    summary="Retrieve one definition version (extension)",
    responses=success(WorkflowVersionData),
)
async def get_version(
    workflow_id: str, version_id: str, actor: CurrentActor, engine: EngineDep
) -> Response:
    workflow, row, report = await history.get_version(engine, actor, workflow_id, version_id)
    return data(views.workflow_version(row, workflow, with_definition=True, validation=report))
