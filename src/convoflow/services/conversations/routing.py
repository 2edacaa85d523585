"""Inbound messages: store them, then route each conversation's pending messages in order.

This module is where an inbound message meets its execution. `receive_message` stores
the message (deduplicated by provider id); `route_conversation`, under the
conversation's lock, hands the pending messages, joined into one input, to the
conversation's execution — resuming a wait, keeping them for a human during handoff, or
starting a new execution from the inbound trigger. Messages that arrive while the
execution is busy stay pending and answer its next wait (`take_pending_input`).

When routing runs: with no debounce window the caller may route in the very transaction
that stored the message (`receive_message(..., route_in_transaction=True)`, then
`route_conversation` once per conversation: the WhatsApp webhook does), so the message,
the advance it causes and the replies it queues commit together or not at all; with a
debounce window (or for callers that do not route themselves) a `route_conversation`
job runs after the window (`handle_route_job`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import RowMapping

from convoflow.engine import status as st
from convoflow.engine.advance import Advance
from convoflow.engine.runtime import (
    NotWaiting,
    WorkflowNotRunnable,
    new_execution,
    resumable_target,
)
from convoflow.engine.signals import UserInput
from convoflow.engine.state import ExecutionState
from convoflow.ids import new_id
from convoflow.observability.metrics import log_inbound
from convoflow.store import executions as execution_store
from convoflow.store import jobs as job_store
from convoflow.store import messages as message_store
from convoflow.store import whatsapp as wa_store

if TYPE_CHECKING:
    from convoflow.engine.runtime import Runtime

ROUTE_JOB = "route_conversation"


async def receive_message(
    adv: Advance,
    conversation: RowMapping,
    *,
    message: dict[str, Any],
    provider_message_id: str | None = None,
    debounce_seconds: float = 0,
    provider_timestamp: datetime | None = None,
    route_in_transaction: bool = False,
) -> str | None:
    """Store an inbound message and schedule routing. Returns the message id, or None when
    `provider_message_id` was seen before (a redelivery changes nothing).
    `route_in_transaction`: the caller routes the conversation itself before this
    transaction commits (`route_conversation`), so no job is scheduled; only with no
    debounce window (`routes_in_transaction`)."""
    now = adv.now
    message_id = new_id()
    inserted = await message_store.insert_message(
        adv.conn,
        {
            "id": message_id,
            "project_id": conversation["project_id"],
            "conversation_id": conversation["id"],
            "direction": "inbound",
            "provider_message_id": provider_message_id,
            "message_type": message.get("type", "text"),
            "content": message,
            "status": "received",
            "routing": "pending",
            "provider_timestamp": provider_timestamp,
            "created_at": now,
            "updated_at": now,
        },
    )
    if not inserted:
        return None
    # The conversation row update also takes its lock (PostgreSQL) before the job insert,
    # which orders this message against a routing job running at the same moment.
    await message_store.touch_conversation(
        adv.conn, conversation["id"], now=now, direction="inbound", message_id=message_id
    )
    if route_in_transaction and routes_in_transaction(debounce_seconds):
        return message_id
    adv.schedule_job(
        ROUTE_JOB,
        run_at=now + timedelta(seconds=max(0.0, debounce_seconds)),
        dedupe_key=f"route:{conversation['id']}",
        payload={"conversation_id": conversation["id"]},
    )
    return message_id


def routes_in_transaction(debounce_seconds: float) -> bool:
    """A message with no debounce window can be routed in the transaction that stores it:
    nothing is gained by waiting, and a job would cost two more transactions."""
    return debounce_seconds <= 0


def input_from_messages(rows: list[RowMapping], source: str) -> UserInput:
    """Join a burst into one input (DECISIONS.md: newline-joined), keeping the last
    message as `last_user_message`."""
    values = [row["content"].get("input", row["content"].get("text", "")) for row in rows]
    value: Any = (
        values[0]
        if len(values) == 1
        else "\n".join(v if isinstance(v, str) else str(v) for v in values if v not in (None, ""))
    )
    last = dict(rows[-1]["content"])
    if len(rows) > 1:
        last["burst"] = [dict(row["content"]) for row in rows]
    return UserInput(
        value=value,
        message=last,
        source=source,
        message_ids=tuple(str(row["provider_message_id"] or row["id"]) for row in rows),
    )


async def take_pending_input(adv: Advance, state: ExecutionState) -> UserInput | None:
    """Used by wait_for_response: input that arrived while the execution was busy."""
    assert state.conversation_id is not None
    # A conversation route_conversation claimed in this advance has no pending message
    # left (receive_message takes the conversation row first): skip the UPDATE.
    if state.observer or state.conversation_id in adv.claimed_conversations:
        return None
    claimed = await message_store.claim_pending(
        adv.conn, state.conversation_id, "consumed", execution_id=state.id, now=adv.now
    )
    if not claimed:
        return None
    _log_after_commit(adv, claimed, "consumed", state.id)
    return input_from_messages(claimed, _source(claimed))


def _source(rows: list[RowMapping]) -> str:
    return str(rows[-1]["content"].get("channel") or "whatsapp")


async def _load_active_root(adv: Advance, conversation_id: str) -> ExecutionState | None:
    """The conversation's active root execution, loaded into `adv` (as `adv.load`)."""
    row = await execution_store.active_root(
        adv.conn, conversation_id, for_update=adv.runtime.db.backend.row_locks
    )
    if row is None:
        return None
    state = adv.tracked(str(row["id"]))
    if state is None:
        state = ExecutionState.from_row(row)
        adv.track_loaded(state)
    return state


async def _claim(
    adv: Advance,
    conversation_id: str,
    routing: str,
    execution_id: str | None,
    *,
    log: bool = True,
) -> list[RowMapping]:
    claimed = await message_store.claim_pending(
        adv.conn, conversation_id, routing, execution_id=execution_id, now=adv.now
    )
    adv.claimed_conversations.add(conversation_id)
    if claimed and log:
        _log_after_commit(adv, claimed, routing, execution_id)
    return claimed


def _log_after_commit(
    adv: Advance, rows: list[RowMapping], routing: str, execution_id: str | None
) -> None:
    adv.after_commit.append(lambda: log_inbound(rows, routing, execution_id))


async def route_conversation(
    adv: Advance,
    conversation_id: str,
    conversation: RowMapping | None = None,
    *,
    inbound_workflows: Mapping[tuple[str, str], str | None] | None = None,
) -> ExecutionState | None:
    """Hand the conversation's pending messages to whoever should have them.
    `conversation`: the row, when the caller already locked it in this transaction.
    `inbound_workflows`: the numbers' inbound workflow ids (None: no active trigger) the
    caller already read in this transaction, by (project id, phone number id).

    Lock order: the conversation, then its execution; the pending messages are claimed
    only after both, so a wait that consumed them meanwhile (in another transaction on
    PostgreSQL) is seen."""
    if conversation is None:
        conversation = await message_store.lock_conversation(adv.conn, conversation_id)
    if conversation is None:
        return None
    root = await _load_active_root(adv, conversation_id)
    if root is None or root.status in st.TERMINAL:  # it may have ended while we waited
        return await _start_from_trigger(adv, conversation, inbound_workflows or {})
    if root.status == st.HANDOFF:
        await _claim(adv, conversation_id, "handoff", root.id)
        return root
    try:
        target = await resumable_target(adv, root.id)
    except NotWaiting:
        return root  # busy: the messages stay pending for its next wait
    claimed = await _claim(adv, conversation_id, "consumed", target.id)
    if claimed:
        await adv.deliver(target.id, input_from_messages(claimed, _source(claimed)))
    return target


async def _start_from_trigger(
    adv: Advance, conversation: RowMapping, known: Mapping[tuple[str, str], str | None]
) -> ExecutionState | None:
    conversation_id = conversation["id"]
    workflow_id = await inbound_workflow_for(adv, conversation, known)
    if workflow_id is None:
        await _claim(adv, conversation_id, "unrouted", None)
        return None
    execution_id = new_id()
    # The claim is the check for pending messages: none, nothing to start.
    claimed = await _claim(adv, conversation_id, "consumed", execution_id, log=False)
    if not claimed:
        return None
    first = input_from_messages(claimed, _source(claimed))
    try:
        state = await new_execution(
            adv,
            project_id=conversation["project_id"],
            workflow_id=workflow_id,
            trigger_type="inbound_message",
            variables={"last_user_input": first.value, "last_user_message": first.message},
            context=conversation_context(conversation),
            conversation_id=conversation_id,
            execution_id=execution_id,
        )
    except WorkflowNotRunnable:
        await message_store.set_routing(
            adv.conn,
            [row["id"] for row in claimed],
            "unrouted",
            execution_id=None,
            now=adv.now,
        )
        _log_after_commit(adv, claimed, "unrouted", None)
        return None
    _log_after_commit(adv, claimed, "consumed", execution_id)
    await adv.start(state)
    return state


def conversation_context(conversation: RowMapping) -> dict[str, Any]:
    contact_name = conversation["contact_name"]
    return {
        "channel": conversation["channel"],
        "phone_number": conversation["phone_number"],
        "conversation_id": conversation["id"],
        "phone_number_id": conversation["phone_number_id"],
        "contact": {
            "wa_id": conversation["wa_id"],
            "name": contact_name,
            "profile_name": contact_name,
            "display_name": contact_name,
        },
    }


async def inbound_workflow_for(
    adv: Advance, conversation: RowMapping, known: Mapping[tuple[str, str], str | None]
) -> str | None:
    """The workflow a new message on this conversation starts: a sandbox conversation
    names its workflow; otherwise the number's active inbound_message trigger (from
    `known` when the caller read it in this transaction: one SELECT less per new
    conversation on the webhook's path)."""
    metadata = conversation["metadata"] or {}
    if metadata.get("workflow_id"):
        return str(metadata["workflow_id"])
    project_id = str(conversation["project_id"])
    phone_number_id = conversation["phone_number_id"]
    key = (project_id, str(phone_number_id))
    if key in known:
        return known[key]
    row = await wa_store.inbound_workflow_settings(adv.conn, project_id, phone_number_id)
    return str(row["id"]) if row is not None else None


async def handle_route_job(runtime: Runtime, job: RowMapping) -> None:
    conversation_id = str((job["payload"] or {})["conversation_id"])

    async def route(adv: Advance) -> None:
        # Conversation lock first, job delete second: the order receive_message takes them
        # in (PostgreSQL would otherwise deadlock a webhook's job insert against this
        # delete: the insert waits on the deleted row's dedupe key, we on its lock).
        conversation = await message_store.lock_conversation(adv.conn, conversation_id)
        await job_store.delete_jobs(adv.conn, [job["id"]])
        if conversation is not None:
            await route_conversation(adv, conversation_id, conversation)

    await runtime.op(route)
