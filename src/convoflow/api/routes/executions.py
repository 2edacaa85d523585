"""/platform/v1 executions: start, list, read, change status, resume, events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Query, Request, Response

from convoflow.api import views
from convoflow.api.auth import CurrentActor, EngineDep, get_limits
from convoflow.api.bodies import api_router
from convoflow.api.middleware import RATE_HEADERS_KEY
from convoflow.api.models import ExecutionStartBody, ExecutionUpdateBody, ResumeBody
from convoflow.api.openapi import error_responses
from convoflow.api.pagination import page_request, paging
from convoflow.api.params import Timestamp
from convoflow.api.responses import data, ok
from convoflow.engine.signals import UserInput
from convoflow.services.common import Actor
from convoflow.services.executions import commands as execution_api
from convoflow.services.executions import reads as execution_reads
from convoflow.services.executions.commands import ExecutionInfo, StartRequest
from convoflow.services.executions.reads import ExecutionFilters
from convoflow.services.process import Process

router = api_router(tags=["Workflows"])

Status = Literal["running", "waiting", "ended", "failed", "handoff"]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1..100)")]
Cursor = Annotated[str | None, Query(max_length=1000, description="Opaque cursor")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Repeat within 24 h returns the first response (convoflow extension)",
    ),
]


@dataclass(frozen=True)
class ExecutionWrite:
    """What a start or a resume route passes on, both APIs alike: who asks, and the
    Idempotency-Key with the route it is scoped to."""

    engine: Process
    actor: Actor
    idempotency_key: str | None
    route: str

    async def start(self, workflow_id: str, request: StartRequest) -> ExecutionInfo:
        return await execution_api.start(
            self.engine, self.actor, workflow_id, request,
            idempotency_key=self.idempotency_key, route=self.route,
        )  # fmt: skip

    async def resume(self, execution_id: str, user_input: UserInput) -> ExecutionInfo:
        return await execution_api.resume(
            self.engine, self.actor, execution_id, user_input,
            idempotency_key=self.idempotency_key, route=self.route,
        )  # fmt: skip


def execution_write(
    request: Request,
    actor: CurrentActor,
    engine: EngineDep,
    idempotency_key: IdempotencyKey = None,
) -> ExecutionWrite:
    return ExecutionWrite(engine, actor, idempotency_key, f"POST {request.url.path}")


WriteDep = Annotated[ExecutionWrite, Depends(execution_write)]


def add_headers(request: Request, headers: dict[str, str]) -> None:
    state = request.scope.setdefault("state", {})
    state[RATE_HEADERS_KEY] = {**state.get(RATE_HEADERS_KEY, {}), **headers}


def request_meta(request: Request) -> dict[str, Any]:
    return {
        "ip": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
    }


def accepted(info: ExecutionInfo) -> dict[str, Any]:
    row = info.row
    return {
        "message": "Workflow execution initiated",
        "workflow_id": row["workflow_id"],
        "id": row["id"],
        "tracking_id": row["tracking_id"],
    }


@router.post(
    "/workflows/{workflow_id}/executions",
    status_code=202,
    summary="Start an execution (runs to its first wait before answering)",
    responses=error_responses(409),
)
async def start_execution(
    workflow_id: str, body: ExecutionStartBody, request: Request, write: WriteDep
) -> Response:
    add_headers(request, get_limits(request).check_start(str(write.actor.key_id), workflow_id))
    fields = body.workflow_execution
    start = StartRequest(
        phone_number=fields.phone_number,
        recipient=fields.recipient,
        phone_number_id=fields.phone_number_id,
        whatsapp_config_id=(
            str(fields.whatsapp_config_id) if fields.whatsapp_config_id is not None else None
        ),
        variables=fields.variables,
        context=fields.context,
        initial_data=fields.initial_data,
        request_meta=request_meta(request),
    )
    return data(accepted(await write.start(workflow_id, start)), status_code=202)


@router.get("/workflows/{workflow_id}/executions", summary="List executions (cursor paging)")
async def list_executions(
    workflow_id: str,
    actor: CurrentActor,
    engine: EngineDep,
    status: Status | None = None,
    waiting_reason: str | None = Query(None, max_length=32),
    created_after: Timestamp | None = None,
    created_before: Timestamp | None = None,
    whatsapp_conversation_id: str | None = Query(None, max_length=64),
    limit: Limit = 20,
    after: Cursor = None,
    before: Cursor = None,
) -> Response:
    filters = ExecutionFilters(
        status=status,
        waiting_reason=waiting_reason,
        created_after=created_after,
        created_before=created_before,
        whatsapp_conversation_id=whatsapp_conversation_id,
    )
    page, infos = await execution_reads.list_for_workflow(
        engine, actor, workflow_id, filters, page_request(limit, after, before)
    )
    return ok({"data": [views.execution_summary(info) for info in infos], "paging": paging(page)})


@router.get("/workflow_executions/{execution_id}", summary="Retrieve execution (with context)")
async def get_execution(execution_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    detail = await execution_reads.get_detail(engine, actor, execution_id)
    return data(views.execution_detail(detail.info, detail.events, detail.resumable_execution_id))


@router.patch("/workflow_executions/{execution_id}", summary="Change execution status")
async def update_execution(
    execution_id: str, body: ExecutionUpdateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    info = await execution_api.set_status(
        engine, actor, execution_id, body.workflow_execution.status
    )
    return data(views.execution(info))


@router.post(
    "/workflow_executions/{execution_id}/resume",
    summary="Resume a waiting execution (processed inline)",
    responses=error_responses(409),
)
async def resume_execution(execution_id: str, body: ResumeBody, write: WriteDep) -> Response:
    message = body.message
    user_input = UserInput(
        value=message.data,
        message={"type": "api", "kind": message.kind, "data": message.data},
        variables=body.variables,
        source="api",
    )
    return data(views.resumed(await write.resume(execution_id, user_input)))


@router.get("/workflow_executions/{execution_id}/events", summary="List execution events")
async def list_events(
    execution_id: str,
    actor: CurrentActor,
    engine: EngineDep,
    event_type: str | None = Query(None, max_length=64),
    limit: Limit = 20,
    after: Cursor = None,
    before: Cursor = None,
) -> Response:
    page, version_id, graph = await execution_reads.list_events(
        engine, actor, execution_id, event_type, page_request(limit, after, before)
    )
    events = [views.event(row, version_id, graph) for row in page.rows]
    return ok({"data": events, "paging": paging(page)})


@router.get("/workflow_events/{event_id}", summary="Retrieve one execution event")
async def get_event(event_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    row, version_id, graph = await execution_reads.get_event(engine, actor, event_id)
    return data(views.event(row, version_id, graph))


@router.get(
    "/whatsapp/conversations/{conversation_id}/flow_executions",
    tags=["WhatsApp Conversations"],
    summary="List a conversation's executions",
)
async def conversation_executions(
    conversation_id: str,
    actor: CurrentActor,
    engine: EngineDep,
    status: Status | None = None,
    limit: Limit = 20,
    after: Cursor = None,
    before: Cursor = None,
) -> Response:
    page, infos = await execution_reads.list_for_conversation(
        engine, actor, conversation_id, status, page_request(limit, after, before)
    )
    return ok({"data": [views.execution_summary(info) for info in infos], "paging": paging(page)})
