"""/platform/v1 workflow triggers: list, create, replace all, enable/disable, delete."""

from __future__ import annotations

from fastapi import Response

from convoflow.api import views
from convoflow.api.auth import CurrentActor, EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.models import (
    TriggerCreateBody,
    TriggerFields,
    TriggerReplaceBody,
    TriggerUpdateBody,
)
from convoflow.api.responses import data, no_content
from convoflow.services.workflows import triggers
from convoflow.services.workflows.triggers import TriggerSpec

router = api_router(tags=["Workflow Triggers"])


def spec_of(fields: TriggerFields) -> TriggerSpec:
    return TriggerSpec(
        trigger_type=fields.trigger_type,
        active=fields.active,
        phone_number_id=fields.phone_number_id,
        event=fields.event,
        event_name=fields.event_name,
        property_key=fields.property_key,
        operator=fields.operator,
        property_value=fields.property_value,
    )


@router.get("/workflows/{workflow_id}/triggers", summary="List workflow triggers")
async def list_triggers(workflow_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    rows = await triggers.list_triggers(engine, actor, workflow_id)
    return data([views.trigger(row) for row in rows])


@router.post("/workflows/{workflow_id}/triggers", status_code=201, summary="Create trigger")
async def create_trigger(
    workflow_id: str, body: TriggerCreateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    row = await triggers.create(engine, actor, workflow_id, spec_of(body.trigger))
    return data(views.trigger(row), status_code=201)


@router.put("/workflows/{workflow_id}/triggers", summary="Replace all triggers (atomic)")
async def replace_triggers(
    workflow_id: str, body: TriggerReplaceBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    specs = [spec_of(fields) for fields in body.triggers]
    rows = await triggers.replace_all(engine, actor, workflow_id, specs)
    return data([views.trigger(row) for row in rows])


@router.patch("/triggers/{trigger_id}", summary="Enable or disable a trigger")
async def update_trigger(
    trigger_id: str, body: TriggerUpdateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    row = await triggers.set_active(engine, actor, trigger_id, body.trigger.active)
    return data(views.trigger(row))


@router.delete("/triggers/{trigger_id}", status_code=204, summary="Delete a trigger")
async def delete_trigger(trigger_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    await triggers.delete(engine, actor, trigger_id)
    return no_content()
