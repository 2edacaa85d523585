"""Sandbox conversations: run a flow with no WhatsApp account (terminal chat, tests)."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from convoflow.engine import status as st
from convoflow.engine.advance import Advance
from convoflow.engine.runtime import new_execution
from convoflow.engine.state import ExecutionState
from convoflow.ids import new_id
from convoflow.services.conversations import routing
from convoflow.services.process import Process
from convoflow.services.projects.accounts import ProjectNotFound, create_project, resolve_project
from convoflow.services.workflows.versions import add_version, create_workflow
from convoflow.store import executions as execution_store
from convoflow.store import messages as message_store
from convoflow.store import sandbox as sandbox_store
from convoflow.store import workflows as workflow_store
from convoflow.store.executions import ConcurrentUpdate

log = structlog.get_logger(__name__)
# Errors of routing in the request's transaction that a later transaction (the routing
# job) may not meet: the database refusing this one, or an execution advanced meanwhile.
ROUTING_CONFLICTS = (SQLAlchemyError, ConcurrentUpdate)

SANDBOX_PROJECT = "sandbox"


async def create_sandbox_workflow(
    engine: Process,
    name: str,
    definition: Any,
    *,
    project: str = SANDBOX_PROJECT,
    workflow_id: str | None = None,
) -> tuple[str, str]:
    """(project id, workflow id): `definition` as an active workflow of `project` (created
    on first use), for a terminal chat or a test suite. Workflow names are unique in a
    project, so the name gets a suffix of its own (a time would not do: a test run's clock
    stands still). With `workflow_id` (a test run's throwaway database: the flows a
    suite's flow calls keep the ids its `call` nodes name), the workflow gets that id; if
    one has it already (an earlier suite of the run loaded it), `definition` becomes its
    current version."""

    async def setup(adv: Advance) -> tuple[str, str]:
        try:
            project_id = await resolve_project(adv.conn, project)
        except ProjectNotFound:
            project_id = await create_project(adv.conn, engine.clock, project)
        if workflow_id is not None:
            existing = await workflow_store.get_workflow(adv.conn, workflow_id, project_id)
            if existing is not None:
                await add_version(adv.conn, engine.clock, workflow_id, definition)
                return project_id, workflow_id
        created = await create_workflow(
            adv.conn,
            engine.clock,
            project_id=project_id,
            name=f"{name} ({new_id()[-12:]})",
            definition=definition,
            status="active",
            workflow_id=workflow_id,
        )
        return project_id, created

    return await engine.runtime.op(setup)


async def open_conversation(
    engine: Process, *, project_id: str, workflow_id: str, user: str = "sandbox-user"
) -> str:
    conversation_id = new_id()

    async def create(adv: Advance) -> None:
        await message_store.insert_conversation(
            adv.conn,
            {
                "id": conversation_id,
                "project_id": project_id,
                "channel": "sandbox",
                "phone_number_id": None,
                "wa_id": user,
                "phone_number": user,
                "status": "active",
                "contact_name": user,
                "metadata": {"workflow_id": workflow_id},
                "messages_count": 0,
                "created_at": adv.now,
                "updated_at": adv.now,
            },
        )

    await engine.runtime.op(create)
    return conversation_id


async def start(
    engine: Process, conversation_id: str, variables: dict[str, Any] | None = None
) -> ExecutionState:
    async def run(adv: Advance) -> ExecutionState:
        conversation = await message_store.get_conversation(adv.conn, conversation_id)
        assert conversation is not None
        state = await new_execution(
            adv,
            project_id=conversation["project_id"],
            workflow_id=conversation["metadata"]["workflow_id"],
            trigger_type="api_call",
            variables=variables,
            context=routing.conversation_context(conversation),
            conversation_id=conversation_id,
        )
        await adv.start(state)
        return state

    return await engine.runtime.op(run)


def user_message(text: str, last_bot_message: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the sandbox user sends. Typing a button's or list row's title (or id) after an
    interactive message answers it as WhatsApp would: an interactive reply whose input is
    the option's title."""
    options = _options(last_bot_message)
    wanted = text.strip().lower()
    for kind, option in options:
        if wanted in (str(option.get("title", "")).lower(), str(option.get("id", "")).lower()):
            return {
                "type": "interactive",
                "interactive_type": kind,
                "id": option.get("id"),
                "title": option.get("title"),
                "input": option.get("title"),
                "channel": "sandbox",
            }
    return {"type": "text", "text": text, "input": text, "channel": "sandbox"}


def _options(message: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    if not message or message.get("type") != "interactive":
        return []
    interactive = message.get("interactive") or {}
    found: list[tuple[str, dict[str, Any]]] = [
        ("button_reply", b) for b in interactive.get("buttons") or [] if isinstance(b, dict)
    ]
    for section in interactive.get("list_sections") or []:
        for row in (section or {}).get("rows") or []:
            if isinstance(row, dict):
                found.append(("list_reply", row))
    return found


async def say(
    engine: Process,
    conversation_id: str,
    text: str,
    *,
    last_bot_message: dict[str, Any] | None = None,
    route_now: bool = False,
) -> str | None:
    """The sandbox user sends `text`, routed like any inbound message with no debounce
    window: by a routing job, so what is said before the worker runs is one input (tests
    and the terminal chat drain the worker themselves); or, with `route_now` (the
    console's test chat), in the transaction that stores it, as Meta's webhook does, so
    the flow's answer is queued when this returns (the job costs two more transactions
    and a worker wake-up first). If routing there meets a conflict with a concurrent
    transaction, the message is stored with a routing job instead; any other error
    propagates and nothing is stored."""
    message = user_message(text, last_bot_message)

    async def receive(adv: Advance, route_now: bool = route_now) -> str | None:
        conversation = await message_store.get_conversation(adv.conn, conversation_id)
        assert conversation is not None
        message_id = await routing.receive_message(
            adv, conversation, message=message, route_in_transaction=route_now
        )
        if route_now and message_id is not None:
            await routing.route_conversation(adv, conversation_id, conversation)
        return message_id

    if not route_now:
        return await engine.runtime.op(receive)
    try:
        return await engine.runtime.op(receive)
    except ROUTING_CONFLICTS as exc:
        # Only what a concurrent transaction can cause (a serialization failure, a lock
        # timeout, an execution advanced meanwhile) is worth a second try by the job; any
        # other error would meet the job the same way, so it propagates (logged, a 500).
        log.warning(
            "routing a sandbox message in its transaction failed; left to the worker",
            error=f"{type(exc).__name__}: {exc}",
        )
        return await engine.runtime.op(lambda adv: receive(adv, route_now=False))


async def outbound_since(engine: Process, conversation_id: str, seen: int) -> list[dict[str, Any]]:
    """Bot messages of the conversation after the first `seen` ones, oldest first."""
    async with engine.db.read() as conn:
        contents = await sandbox_store.outbound_since(conn, conversation_id, seen)
    return [dict(content) for content in contents]


async def latest_execution(engine: Process, conversation_id: str) -> dict[str, Any] | None:
    """The newest root execution of the conversation, with the status of its deepest
    active child (what the user is actually talking to)."""
    async with engine.db.read() as conn:
        row = await sandbox_store.latest_root(conn, conversation_id)
        if row is None:
            return None
        current = row
        while current["status"] == st.WAITING and (current["cursor"] or {}).get("child_id"):
            child = await execution_store.get_execution(conn, current["cursor"]["child_id"])
            if child is None:
                break
            current = child
        return {"root": dict(row), "current": dict(current)}
