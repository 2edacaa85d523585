"""One advance: everything that happens to executions inside one write operation.

An `Advance` loads executions (locking their rows on PostgreSQL), runs steps until each
execution waits, ends, fails, hands off or needs an external call, and then `flush()`
writes the execution rows (compare-and-set on `version`), their events, outbound
messages, timers and journaled actions — all in the caller's transaction. If the process
dies before the commit, none of it happened and the signal that caused it is still
pending (a job, an unconsumed inbound message), so the advance simply runs again.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.engine import status as st
from convoflow.engine.hooks import EngineHooks
from convoflow.engine.ports import AdvanceView, RuntimeView
from convoflow.engine.signals import (
    ActionDone,
    AwaitAction,
    CallChild,
    ChildFinished,
    Fail,
    Handoff,
    Next,
    Outcome,
    Park,
    Signal,
    TimerFired,
    UserInput,
)
from convoflow.engine.state import ExecutionState
from convoflow.engine.step import StepRun
from convoflow.engine.steps import handler_for
from convoflow.engine.steps.wait_for_response import record_input
from convoflow.graph.compiled import CompiledGraph, CompiledNode
from convoflow.ids import new_id
from convoflow.store import executions as execution_store
from convoflow.store import projects as project_store
from convoflow.store.executions import ConcurrentUpdate

log = structlog.get_logger(__name__)

MAX_CALL_DEPTH = 10


class ExecutionNotFound(Exception):
    pass


# Where input that reached a conversation while its execution was busy waits
# (services/conversations/routing.take_pending_input, given at construction).
PendingInputSource = Callable[["Advance", ExecutionState], Awaitable[UserInput | None]]


def _signal_matches_cursor(state: ExecutionState, signal: Signal) -> bool:
    cursor = state.cursor
    if isinstance(signal, TimerFired):
        return bool(cursor.get("timer_key") == signal.key)
    if isinstance(signal, ActionDone):
        return cursor.get("phase") == "await_action" and cursor.get("key") == signal.key
    if isinstance(signal, ChildFinished):
        return cursor.get("phase") == "await_child" and cursor.get("child_id") == signal.child_id
    return cursor.get("phase") in ("await_input", "manual")


class Advance(AdvanceView):
    """Runs steps; what they decide is collected by `Effects` and written by `flush`.
    Built by `Runtime.advance`, which gives it the process's hooks and pending-input
    source."""

    def __init__(
        self,
        runtime: RuntimeView,
        conn: AsyncConnection,
        now: datetime,
        after_commit: list[Callable[[], None]],
        *,
        hooks: EngineHooks[Advance],
        pending_input_source: PendingInputSource | None = None,
    ) -> None:
        super().__init__(conn, now, runtime.notifier, after_commit)
        self.runtime = runtime
        self.hooks = hooks
        self.pending_input_source = pending_input_source
        self.allow_process_env = runtime.settings.allow_process_env_secrets
        self._secrets: dict[str, dict[str, str]] = {}
        self._projects: dict[str, dict[str, Any]] = {}
        self.advanced = 0  # executions whose steps ran (the advances metric)
        # Conversations whose pending input this advance already claimed, under the
        # conversation's lock: nothing can add input to them before it commits, so a wait
        # reached later in the same advance need not look (services/conversations/routing).
        self.claimed_conversations: set[str] = set()

    # --- loading -----------------------------------------------------------------------

    async def load(self, execution_id: str, *, nowait: bool = False) -> ExecutionState:
        state = self.tracked(execution_id)
        if state is not None:
            return state
        row = await execution_store.get_execution(
            self.conn, execution_id, for_update=self.runtime.db.backend.row_locks, nowait=nowait
        )
        if row is None:
            raise ExecutionNotFound(execution_id)
        state = ExecutionState.from_row(row)
        self.track_loaded(state)
        return state

    async def graph_for(self, state: ExecutionState) -> CompiledGraph:
        return await self.runtime.graphs.get(self.conn, state.version_id)

    async def project_settings(self, project_id: str) -> dict[str, Any]:
        if project_id not in self._projects:
            self._projects[project_id] = await self.runtime.project_settings.get(
                self.conn, project_id, self.now
            )
        return self._projects[project_id]

    async def project_secrets(self, project_id: str) -> dict[str, str]:
        if project_id not in self._secrets:
            self._secrets[project_id] = await project_store.get_project_secrets(
                self.conn, project_id
            )
        return self._secrets[project_id]

    async def take_pending_input(self, state: ExecutionState) -> UserInput | None:
        if self.pending_input_source is None or state.conversation_id is None:
            return None
        return await self.pending_input_source(self, state)

    # --- effects collected during the advance ------------------------------------------

    # --- running ---------------------------------------------------------------------

    async def start(self, state: ExecutionState) -> ExecutionState:
        """Run a freshly created execution from its start node."""
        graph = await self.graph_for(state)
        self.emit(state, "execution_started", {"trigger_type": state.trigger_type})
        node = graph.nodes[graph.start_node_id]
        outcome = await self._enter(state, node)
        await self._drive(state, graph, node, outcome)
        return state

    async def deliver(
        self, execution_id: str, signal: Signal, *, expected_version: int | None = None
    ) -> ExecutionState | None:
        """Give `signal` to the node the execution is parked on. Returns None (and changes
        nothing) when the execution has moved on: a late timer, a stale action result."""
        state = await self.load(execution_id)
        if expected_version is not None and state.version != expected_version:
            return None
        if state.status in st.TERMINAL or state.current_node_id is None:
            return None
        if not _signal_matches_cursor(state, signal):
            return None  # a timer or action result for a wait the execution already left
        graph = await self.graph_for(state)
        node = graph.nodes.get(state.current_node_id)
        if node is None:
            await self._fail(state, None, Fail(f"node {state.current_node_id!r} not found"))
            return state
        if "timer_key" in state.cursor:
            # Leaving a wait that had a timeout: the timer job is now pointless.
            self.clear_timers_of(state.id)
        if state.status == st.WAITING:
            state.status = st.RUNNING
            state.waiting_reason = None
        run = StepRun(self, state, node)
        if state.cursor.get("phase") == "manual" and isinstance(signal, UserInput):
            # Parked by the API (PATCH status=waiting), not by a wait node: take the
            # input as a wait would and continue along the node's `next` edge.
            outcome: Outcome = record_input(run, signal, save_to=None)
        else:
            outcome = await self._guarded(node, lambda: handler_for(node).on_signal(run, signal))
        await self._drive(state, graph, node, outcome)
        return state

    async def _enter(self, state: ExecutionState, node: CompiledNode) -> Outcome:
        state.current_node_id = node.id
        seq = self.emit(state, "step_entered", {"node_type": node.node_type}, node_id=node.id)
        state.cursor = {"phase": "enter", "entered_seq": seq}
        run = StepRun(self, state, node)
        return await self._guarded(node, lambda: handler_for(node).enter(run))

    async def _guarded(self, node: CompiledNode, call: Callable[[], Any]) -> Outcome:
        """A bug or unexpected error in a step fails the execution, not the worker."""
        try:
            outcome: Outcome = await call()
        except (SQLAlchemyError, ConcurrentUpdate):
            raise
        except Exception as exc:
            log.exception("step raised", node_id=node.id, node_type=node.node_type)
            return Fail(
                f"step {node.id!r} ({node.node_type}) raised {type(exc).__name__}: {exc}",
                {"exception": type(exc).__name__},
            )
        return outcome

    async def _drive(
        self, state: ExecutionState, graph: CompiledGraph, node: CompiledNode, outcome: Outcome
    ) -> None:
        self.advanced += 1
        while True:
            if isinstance(outcome, Next):
                self.emit(state, "step_completed", {}, node_id=node.id, edge_label=outcome.label)
                target = graph.next_node(node.id, outcome.label)
                if target is None:
                    await self._finish(state, st.ENDED, reason="completed")
                    return
                state.steps_since_wait += 1
                limit = await self._max_steps(state)
                if state.steps_since_wait > limit:
                    message = (
                        f"loop guard: {state.steps_since_wait - 1} steps ran without waiting; "
                        f"max_steps_without_wait is {limit}. Add a wait_for_response node to "
                        "the loop or raise the project's limit."
                    )
                    await self._fail(state, node, Fail(message, {"code": "loop_guard"}))
                    return
                node = graph.nodes[target]
                outcome = await self._enter(state, node)
                continue
            if isinstance(outcome, Park):
                self._park(state, node, outcome)
                return
            if isinstance(outcome, AwaitAction):
                self._await_action(state, node, outcome)
                return
            if isinstance(outcome, CallChild):
                await self._call_child(state, node, outcome)
                return
            if isinstance(outcome, Fail):
                await self._fail(state, node, outcome)
                return
            if isinstance(outcome, Handoff):
                await self._handoff(state, node, outcome)
                return
            raise TypeError(f"step {node.id} returned {outcome!r}, not an Outcome")

    async def _max_steps(self, state: ExecutionState) -> int:
        settings = await self.project_settings(state.project_id)
        value = settings.get("max_steps_without_wait")
        return int(value) if value else self.runtime.settings.max_steps_without_wait

    def _park(self, state: ExecutionState, node: CompiledNode, park: Park) -> None:
        state.status = park.status
        state.waiting_reason = park.waiting_reason
        cursor = dict(park.cursor)
        cursor.setdefault("entered_seq", state.cursor.get("entered_seq"))
        if park.timer_at is not None:
            key = f"timer:{state.id}:{state.event_seq}"
            cursor["timer_key"] = key
            self.schedule_job(
                "timer",
                run_at=park.timer_at,
                execution_id=state.id,
                dedupe_key=key,
                expected_version=state.loaded_version + 1,
                payload={"purpose": park.timer_purpose, "key": key},
            )
        state.cursor = cursor
        state.steps_since_wait = 0

    def _await_action(self, state: ExecutionState, node: CompiledNode, action: AwaitAction) -> None:
        key = action.key or StepRun(self, state, node).step_key
        self.journal_action(
            {
                "id": new_id(),
                "execution_id": state.id,
                "idempotency_key": key,
                "node_id": node.id,
                "kind": action.kind,
                "request": action.request,
                "status": "pending",
                "attempts": 0,
                "created_at": self.now,
            }
        )
        self.schedule_job(
            "action",
            run_at=self.now,
            execution_id=state.id,
            dedupe_key=f"action:{key}",
            expected_version=state.loaded_version + 1,
            payload={"key": key, "kind": action.kind},
        )
        self.emit(state, "action_executing", {"action": action.kind, "key": key}, node_id=node.id)
        state.status = st.RUNNING
        state.waiting_reason = None
        state.cursor = {
            **(action.carry or {}),
            "phase": "await_action",
            "key": key,
            "entered_seq": state.cursor.get("entered_seq"),
        }

    async def _call_child(
        self, parent: ExecutionState, node: CompiledNode, call: CallChild
    ) -> None:
        from convoflow.engine.children import create_child

        child_or_error = await create_child(self, parent, node, call.workflow_id)
        if isinstance(child_or_error, ChildFinished):
            # Refused before it started (cycle, depth, unknown workflow): the call step
            # records the error and goes on, as a failed child would.
            run = StepRun(self, parent, node)
            graph = await self.graph_for(parent)
            outcome = await self._guarded(
                node, lambda: handler_for(node).on_signal(run, child_or_error)
            )
            await self._drive(parent, graph, node, outcome)
            return
        parent.status = st.WAITING
        parent.waiting_reason = st.WAIT_CALL
        parent.cursor = {
            "phase": "await_child",
            "child_id": child_or_error.id,
            "entered_seq": parent.cursor.get("entered_seq"),
        }
        parent.steps_since_wait = 0
        # Runs the child now; if it finishes at once, its _finish resumes this parent.
        await self.start(child_or_error)

    async def _finish(self, state: ExecutionState, status: str, *, reason: str) -> None:
        st.check_transition(state.status, status)
        state.status = status
        state.waiting_reason = None
        state.ended_at = self.now
        state.cursor = {"phase": "done"}
        self.emit(state, "execution_ended", {"reason": reason})
        await self._notify_parent(state)
        self.hooks.execution_finished(self, state)

    async def fail_execution(
        self, state: ExecutionState, message: str, details: dict[str, Any] | None = None
    ) -> None:
        await self._fail(state, None, Fail(message, details or {}))

    async def end_execution(self, state: ExecutionState, *, reason: str) -> None:
        """End from outside the flow (API, archiving): children first, then this one."""
        await self._end_child_of(state, reason)
        self.clear_timers_of(state.id)
        state.cursor = {"phase": "done"}
        await self._finish(state, st.ENDED, reason=reason)

    async def _end_child_of(self, state: ExecutionState, reason: str) -> None:
        """End the child a parent waits on. The parent stops waiting for it first, so the
        child's end does not resume the parent's flow."""
        if state.cursor.get("phase") != "await_child":
            return
        child = await self.load(str(state.cursor["child_id"]))
        state.cursor = {"phase": "detached", "entered_seq": state.cursor.get("entered_seq")}
        if child.status not in st.TERMINAL:
            await self.end_execution(child, reason=reason)

    async def handoff_execution(self, state: ExecutionState, *, reason: str) -> None:
        """Hand off from outside the flow (API PATCH status=handoff): the bot stops and a
        human takes the conversation; a child it waited on is ended."""
        await self._end_child_of(state, reason)
        self.clear_timers_of(state.id)
        st.check_transition(state.status, st.HANDOFF)
        state.status = st.HANDOFF
        state.waiting_reason = None
        state.cursor = {"phase": "handoff", "entered_seq": state.cursor.get("entered_seq")}
        payload = {"reason": reason, "context_data": None, "source": "api"}
        state.system["handoff"] = payload
        self.emit(state, "execution_handoff", payload, node_id=state.current_node_id)
        self.hooks.execution_handoff(self, state)

    async def pause_execution(self, state: ExecutionState) -> None:
        """Park from outside the flow (API PATCH status=waiting, also handoff -> waiting):
        the next resume or message continues along the current node's `next` edge."""
        await self._end_child_of(state, "api")
        self.clear_timers_of(state.id)
        state.status = st.WAITING
        state.waiting_reason = st.WAIT_MANUAL
        state.cursor = {"phase": "manual", "entered_seq": state.cursor.get("entered_seq")}
        state.steps_since_wait = 0
        self.emit(
            state,
            "execution_waiting",
            {"reason": st.WAIT_MANUAL, "source": "api"},
            node_id=state.current_node_id,
        )

    async def _fail(self, state: ExecutionState, node: CompiledNode | None, fail: Fail) -> None:
        node_id = node.id if node else state.current_node_id
        state.error_details = {
            "message": fail.message,
            "step_identifier": node_id,
            **fail.details,
        }
        if node is not None:
            self.emit(
                state, "step_failed", {"error": fail.message, **fail.details}, node_id=node_id
            )
        state.status = st.FAILED
        state.waiting_reason = None
        state.ended_at = self.now
        state.cursor = {"phase": "done"}
        self.emit(state, "execution_failed", {"error": state.error_details}, node_id=node_id)
        await self._notify_parent(state)
        self.hooks.execution_failed(self, state)

    async def _handoff(self, state: ExecutionState, node: CompiledNode, handoff: Handoff) -> None:
        state.status = st.HANDOFF
        state.waiting_reason = None
        state.cursor = {"phase": "handoff", "entered_seq": state.cursor.get("entered_seq")}
        payload = {
            "reason": handoff.reason,
            "context_data": handoff.context_data,
            "source": "action_step",
        }
        state.system["handoff"] = payload
        self.emit(state, "execution_handoff", payload, node_id=node.id)
        self.hooks.execution_handoff(self, state)

    async def _notify_parent(self, child: ExecutionState) -> None:
        if child.parent_execution_id is None:
            return
        parent = await self.load(child.parent_execution_id)
        if parent.cursor.get("phase") != "await_child" or parent.cursor.get("child_id") != child.id:
            return
        signal = ChildFinished(
            child_id=child.id,
            status=child.status,
            vars=copy.deepcopy(child.vars),
            error=child.error_details,
            workflow_id=child.workflow_id,
            workflow_name=str(child.system.get("flow_name") or ""),
        )
        await self.deliver(parent.id, signal)
