"""Executions through the API: start, resume (inline, one at a time), change status, read.

Every write is one engine operation (`engine.runtime.op`): when a start returns, the
execution has already run to its first wait, so an immediate GET finds it. Start and
resume return the execution as an `ExecutionInfo` (the API renders it); with an
Idempotency-Key that result is stored in the same transaction (`idempotency.py`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.clock import utc_iso
from convoflow.engine import status as st
from convoflow.engine.advance import Advance, ExecutionNotFound
from convoflow.engine.graphs import UnknownVersion
from convoflow.engine.ports import RuntimeView
from convoflow.engine.runtime import (
    NotWaiting,
    WorkflowNotRunnable,
    new_execution,
    resumable_target,
)
from convoflow.engine.signals import UserInput
from convoflow.engine.state import ExecutionState
from convoflow.graph.compiled import CompiledGraph, InvalidDefinition
from convoflow.ids import new_id
from convoflow.services.common import (
    Actor,
    FieldProblem,
    Invalid,
    in_project,
    invalid,
    not_found,
)
from convoflow.services.conversations.routing import conversation_context
from convoflow.services.executions import idempotency
from convoflow.services.executions.in_flight import busy
from convoflow.services.executions.start_number import NamedNumber, choose_number, named_number
from convoflow.services.process import Process
from convoflow.services.workflows import definitions
from convoflow.store import execution_queries as queries
from convoflow.store import messages as message_store
from convoflow.store import triggers as trigger_store
from convoflow.store import whatsapp as wa_store
from convoflow.store import workflow_queries
from convoflow.store import workflows as workflow_store


@dataclass(frozen=True)
class ExecutionInfo:
    """An execution row with what its views need: its workflow and pinned graph."""

    row: Mapping[Any, Any]
    workflow: Mapping[Any, Any] | None
    graph: CompiledGraph | None
    requested_execution_id: str | None = None


def _dump_info(info: ExecutionInfo) -> dict[str, Any]:
    return {
        "execution": idempotency.row_data(info.row),
        "workflow": idempotency.row_data(info.workflow),
        "requested_execution_id": info.requested_execution_id,
    }


async def _load_info(
    conn: AsyncConnection, runtime: RuntimeView, data: dict[str, Any]
) -> ExecutionInfo:
    row = idempotency.row_from(data["execution"])
    assert row is not None
    graph = await graph_of(conn, runtime, str(row["version_id"]))
    workflow = idempotency.row_from(data["workflow"])
    return ExecutionInfo(row, workflow, graph, data["requested_execution_id"])


# What an Idempotency-Key keeps of a start or a resume: the execution as it was answered
# (its pinned graph is read again: versions are immutable).
_KEPT = idempotency.Kept(dump=_dump_info, load=_load_info)


@dataclass(frozen=True)
class StartRequest:
    phone_number: str | None = None
    recipient: str | None = None
    phone_number_id: str | None = None
    # Kapso's deprecated way to name the number: our id of it, or its phone_number_id.
    whatsapp_config_id: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    initial_data: dict[str, Any] = field(default_factory=dict)
    request_meta: dict[str, Any] = field(default_factory=dict)
    # How the request names the number, for errors (`whatsapp_config_id` on /api/v1).
    number_field: str = "workflow_execution.phone_number_id"
    config_field: str = "workflow_execution.whatsapp_config_id"
    # /api/v1's whatsapp_config_id is a string that may be our id of the number.
    config_id_may_be_ours: bool = False

    def named(self) -> NamedNumber:
        return NamedNumber(
            self.phone_number_id,
            self.whatsapp_config_id,
            self.number_field,
            self.config_field,
            self.config_id_may_be_ours,
        )


async def graph_of(
    conn: AsyncConnection, runtime: RuntimeView, version_id: str
) -> CompiledGraph | None:
    try:
        return await runtime.graphs.get(conn, version_id)
    except (UnknownVersion, InvalidDefinition):
        return None  # views then show the node id without type or position


async def describe(
    conn: AsyncConnection,
    runtime: RuntimeView,
    rows: Sequence[Mapping[Any, Any]],
    known_workflows: Mapping[str, Mapping[Any, Any]] | None = None,
) -> list[ExecutionInfo]:
    """`known_workflows`: workflow rows the caller read in this transaction already."""
    wanted = {str(r["workflow_id"]) for r in rows}
    workflows: dict[str, Mapping[Any, Any]] = {}
    if known_workflows:
        workflows.update((wid, known_workflows[wid]) for wid in wanted if wid in known_workflows)
        wanted.difference_update(workflows)
    if wanted:
        workflows.update(await workflow_queries.minimal_workflows(conn, wanted))
    graphs: dict[str, CompiledGraph | None] = {}
    for row in rows:
        version_id = str(row["version_id"])
        if version_id not in graphs:
            graphs[version_id] = await graph_of(conn, runtime, version_id)
    return [
        ExecutionInfo(row, workflows.get(str(row["workflow_id"])), graphs[str(row["version_id"])])
        for row in rows
    ]


# --- start ------------------------------------------------------------------------------


def _participant(request: StartRequest) -> tuple[str, str | None]:
    """(wa_id, E.164 phone number) of whom the execution talks to."""
    if request.phone_number is not None:
        digits = re.sub(r"\D", "", request.phone_number)
        if not 5 <= len(digits) <= 20:
            raise invalid(
                [
                    FieldProblem(
                        "workflow_execution.phone_number",
                        "must be an E.164 phone number such as +14155552671; got "
                        f"{request.phone_number!r}",
                        "invalid_phone_number",
                    )
                ]
            )
        return digits, f"+{digits}"
    if request.recipient:
        return request.recipient, None
    raise invalid(
        [
            FieldProblem(
                "workflow_execution.phone_number",
                "phone_number (E.164) or recipient (business-scoped user id) is required",
                "required",
            )
        ]
    )


async def _conversation(
    adv: Advance, actor: Actor, workflow_id: str, request: StartRequest
) -> sa.RowMapping:
    wa_id, phone = _participant(request)
    # DECISIONS.md / docs/api.md: context.channel "sandbox" runs on the offline sandbox
    # channel; anything else is a WhatsApp conversation.
    channel = "sandbox" if request.context.get("channel") == "sandbox" else "whatsapp"
    number = await named_number(adv.conn, actor.project_id, request.named())
    if channel == "whatsapp" and number is None:
        number = await choose_number(
            adv.conn, project_id=actor.project_id, workflow_id=workflow_id,
            wa_id=wa_id, field=request.number_field,
        )  # fmt: skip

    async def find() -> sa.RowMapping | None:
        return await queries.find_conversation(
            adv.conn,
            project_id=actor.project_id,
            channel=channel,
            phone_number_id=number,
            wa_id=wa_id,
        )

    found = await find()
    if found is not None:
        return found
    # Starts (and, on a WhatsApp number, inbound messages) racing for a new conversation
    # of this user: the first creates it, the others find it after the lock.
    scope = number or f"{actor.project_id}:{channel}"
    await wa_store.lock_route(adv.conn, scope, wa_id)
    found = await find()
    if found is not None:
        return found
    row: dict[str, Any] = {
        "id": new_id(),
        "project_id": actor.project_id,
        "channel": channel,
        "phone_number_id": number,
        "wa_id": wa_id,
        "phone_number": phone,
        "status": "active",
        "contact_name": None,
        "metadata": {},
        "messages_count": 0,
        "created_at": adv.now,
        "updated_at": adv.now,
    }
    await message_store.insert_conversation(adv.conn, row)
    created = await message_store.get_conversation(adv.conn, row["id"])
    assert created is not None
    return created


async def _startable(adv: Advance, actor: Actor, workflow_id: str) -> sa.RowMapping:
    workflow = await in_project(
        adv.conn, workflow_store.get_workflow, "workflow", workflow_id, actor
    )
    version_id = workflow["current_version_id"]
    if version_id is not None:  # a draft may hold a graph with problems: say every one
        reports = await adv.runtime.graphs.reports(adv.conn, [str(version_id)])
        if str(version_id) in reports:
            draft = "" if workflow["status"] == "active" else f" (and it is {workflow['status']})"
            what = f"workflow {workflow_id} cannot start{draft}"
            definitions.require_valid(reports[str(version_id)], what)
    if workflow["status"] != "active":
        raise Invalid(
            f"workflow {workflow_id} is {workflow['status']}; set its status to active "
            "(PATCH /workflows/{id}) before starting executions"
        )
    if not await trigger_store.has_active(adv.conn, workflow_id, "api_call"):
        raise Invalid(
            f"workflow {workflow_id} has no active api_call trigger; create one with POST "
            '/workflows/{id}/triggers {"trigger": {"trigger_type": "api_call"}}'
        )
    return workflow


async def start(
    engine: Process,
    actor: Actor,
    workflow_id: str,
    request: StartRequest,
    *,
    idempotency_key: str | None = None,
    route: str = "",
) -> ExecutionInfo:
    async def effect(adv: Advance) -> ExecutionInfo:
        workflow = await _startable(adv, actor, workflow_id)
        conversation = await _conversation(adv, actor, workflow_id, request)
        context = {**request.context, **conversation_context(conversation)}
        metadata: dict[str, Any] = {
            "request": {**request.request_meta, "timestamp": utc_iso(adv.now)}
        }
        if request.initial_data:
            metadata["initial_data"] = request.initial_data
        try:
            state = await new_execution(
                adv,
                project_id=actor.project_id,
                workflow_id=workflow_id,
                trigger_type="api_call",
                variables=request.variables,
                context=context,
                metadata=metadata,
                conversation_id=str(conversation["id"]),
            )
        except WorkflowNotRunnable as exc:
            errors = exc.report.errors if exc.report is not None else []
            raise Invalid(str(exc), definitions.details(errors) or None) from exc
        await adv.start(state)
        # The workflow row read above is what describe() would read again: nothing in
        # this transaction changes it before the operation's flush.
        row = state.to_row()
        graph = await graph_of(adv.conn, adv.runtime, str(row["version_id"]))
        return ExecutionInfo(row, workflow, graph)

    return await idempotency.run_once(engine, actor, idempotency_key, route, effect, _KEPT)


async def _info(adv: Advance, state: ExecutionState, requested: str | None = None) -> ExecutionInfo:
    [info] = await describe(adv.conn, adv.runtime, [state.to_row()])
    return ExecutionInfo(info.row, info.workflow, info.graph, requested)


# --- resume and status ------------------------------------------------------------------


def _lock_unavailable(exc: DBAPIError) -> bool:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        if getattr(candidate, "sqlstate", None) == "55P03":
            return True
    return False


async def resume(
    engine: Process,
    actor: Actor,
    execution_id: str,
    user_input: UserInput,
    *,
    idempotency_key: str | None = None,
    route: str = "",
) -> ExecutionInfo:
    """Deliver input to the execution or its deepest waiting child, inline. A second
    resume of an execution this process is resuming is refused (`engine.resumes`)."""

    async def effect(adv: Advance) -> ExecutionInfo:
        await in_project(adv.conn, queries.get_execution, "execution", execution_id, actor)
        try:
            target = await resumable_target(adv, execution_id, nowait=True)
        except NotWaiting as exc:
            raise Invalid(
                f"execution {execution_id} cannot be resumed: it is {exc.status}, and only a "
                "waiting execution (or one waiting on a child workflow) accepts input"
            ) from exc
        await adv.deliver(target.id, user_input)
        return await _info(adv, target, requested=execution_id)

    with engine.resumes.claim(execution_id):
        try:
            return await idempotency.run_once(engine, actor, idempotency_key, route, effect, _KEPT)
        except DBAPIError as exc:
            if _lock_unavailable(exc):
                raise busy(execution_id) from exc
            raise


async def set_status(
    engine: Process, actor: Actor, execution_id: str, status: str
) -> ExecutionInfo:
    """PATCH status: ended, handoff or waiting (a manual pause awaiting a resume)."""

    async def run(adv: Advance) -> ExecutionInfo:
        await in_project(adv.conn, queries.get_execution, "execution", execution_id, actor)
        state = await adv.load(execution_id)
        if not st.can_api_transition(state.status, status):
            raise Invalid(f"Invalid transition from {state.status} to {status}")
        if status == st.ENDED:
            await adv.end_execution(state, reason="api")
        elif status == st.HANDOFF:
            await adv.handoff_execution(state, reason="api")
        else:
            await adv.pause_execution(state)
        return await _info(adv, state)

    try:
        return await engine.runtime.op(run)
    except ExecutionNotFound as exc:
        raise not_found("execution", execution_id) from exc
