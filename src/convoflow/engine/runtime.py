"""The engine's entry points: start an execution, deliver a signal, change a status.

Every entry point is one write operation through the group committer (one transaction,
shared with concurrent operations); see engine/advance.py for what happens inside.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.clock import Clock, SystemClock
from convoflow.config import Settings, get_settings
from convoflow.engine import status as st
from convoflow.engine.advance import Advance, ExecutionNotFound, PendingInputSource
from convoflow.engine.committer import AfterCommit, GroupCommitter
from convoflow.engine.context import build_context
from convoflow.engine.cpu import CpuPool
from convoflow.engine.egress import Egress
from convoflow.engine.graphs import GraphCache
from convoflow.engine.hooks import EngineHooks
from convoflow.engine.js.runner import JsRunner
from convoflow.engine.llm.client import LLMClient
from convoflow.engine.llm.conversation import ConversationCache
from convoflow.engine.notifier import Notifier
from convoflow.engine.ports import RuntimeView
from convoflow.engine.project_settings import ProjectSettingsCache
from convoflow.engine.signals import UserInput
from convoflow.engine.state import ExecutionState
from convoflow.graph.compiled import CompiledGraph, InvalidDefinition
from convoflow.graph.problems import ValidationReport
from convoflow.ids import new_id
from convoflow.observability.metrics import Metrics
from convoflow.store import projects as project_store
from convoflow.store import workflows as workflow_store
from convoflow.store.db import Database

T = TypeVar("T")
# Runs one job of a kind (engine/jobs.py has the engine's own; the worker looks there
# after the handlers the runtime was given).
JobHandler = Callable[["Runtime", RowMapping], Awaitable[None]]


class WorkflowNotFound(Exception):
    pass


class WorkflowNotRunnable(Exception):
    """The workflow exists but cannot start executions (no definition, archived, ...)."""

    def __init__(self, message: str, report: ValidationReport | None = None) -> None:
        super().__init__(message)
        self.report = report  # set when the definition has problems: every one of them


class NotWaiting(Exception):
    def __init__(self, execution_id: str, status: str) -> None:
        super().__init__(
            f"execution {execution_id} is {status}; only a waiting execution can be resumed"
        )
        self.status = status


class Runtime:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        settings: Settings | None = None,
        http: httpx.AsyncClient | None = None,
        llm: LLMClient | None = None,
        metrics: Metrics | None = None,
        job_handlers: Mapping[str, JobHandler] | None = None,
        hooks: EngineHooks[Advance] | None = None,
        pending_input_source: PendingInputSource | None = None,
        key_revoked_listeners: Sequence[Callable[[str], None]] = (),
        cpu: CpuPool | None = None,
    ) -> None:
        """`job_handlers` add to the engine's own (timers, actions: `engine/jobs.py`, which
        the worker asks after these); `pending_input_source`
        is where input that arrived while an execution was busy waits (None: nowhere);
        `key_revoked_listeners` hear of revoked API keys (the notifier calls them); `cpu`
        compiles large definitions in worker processes (None: in threads)."""
        self.db = db
        self.metrics = metrics or Metrics()
        self.clock: Clock = clock or SystemClock()
        self.settings = settings or get_settings()
        self.cpu = cpu or CpuPool(0)
        self.graphs = GraphCache(self.cpu)
        self.project_settings = ProjectSettingsCache()
        self.notifier = Notifier(db, key_revoked_listeners)
        self.hooks: EngineHooks[Advance] = hooks or EngineHooks()
        self.committer = GroupCommitter(db, on_commit=self.notifier.data_changed)
        self.job_handlers: Mapping[str, JobHandler] = dict(job_handlers or {})
        self.pending_input_source = pending_input_source
        self.egress = Egress(
            allow_private_network=self.settings.allow_private_network,
            project_allows_private=self._project_allows_private,
            http=http,
        )
        # The one LLM client (decide `ai`, AI fields), through the same egress; `llm` lets
        # a test give one of its own.
        self.llm: LLMClient = llm or LLMClient(
            self.egress,
            max_attempts=self.settings.llm_max_attempts,
            backoff_seconds=self.settings.llm_backoff_seconds,
        )
        # Agents' conversations as of their last turn answered here (engine/llm/conversation.py).
        self.conversations = ConversationCache()

        self.js = JsRunner(
            timeout_seconds=self.settings.js_timeout_seconds,
            max_memory_bytes=self.settings.js_max_memory_mb * 1024 * 1024,
            workers=self.settings.js_workers,
        )

    async def _project_allows_private(self, project_id: str) -> bool:
        # Read fresh, not from project_settings: a project that turns the setting off
        # is refused from its next call on, in every process.
        async with self.db.read() as conn:
            settings = await project_store.get_settings(conn, project_id)
        return bool(settings.get("allow_private_network"))

    async def close(self) -> None:
        await self.committer.close()
        await self.notifier.close()
        await self.egress.close()
        await self.js.close()

    # --- running operations ------------------------------------------------------------

    def advance(
        self, conn: AsyncConnection, now: datetime, after_commit: list[Callable[[], None]]
    ) -> Advance:
        """An advance in `conn`'s transaction, with this process's hooks and pending input."""
        return Advance(
            self,
            conn,
            now,
            after_commit,
            hooks=self.hooks,
            pending_input_source=self.pending_input_source,
        )

    async def op(self, fn: Callable[[Advance], Awaitable[T]]) -> T:
        """Run `fn` with a fresh Advance in a (group-committed) write transaction."""
        started = time.perf_counter()

        async def operation(conn: AsyncConnection, after_commit: list[AfterCommit]) -> T:
            adv = self.advance(conn, self.clock.now(), after_commit)
            result = await fn(adv)
            await adv.flush()
            if adv.advanced:
                # After the commit: an advance rolled back and retried counts once.
                after_commit.append(lambda: self.metrics.advanced(adv.advanced, started))
            return result

        return await self.committer.run(operation)

    async def start_execution(self, **kwargs: Any) -> ExecutionState:
        """Create and run an execution until it first parks; one transaction."""

        async def start(adv: Advance) -> ExecutionState:
            state = await new_execution(adv, **kwargs)
            await adv.start(state)
            return state

        return await self.op(start)

    async def resume(self, execution_id: str, user_input: UserInput) -> ExecutionState:
        """Deliver user input to the execution (or its deepest waiting child)."""

        async def resume(adv: Advance) -> ExecutionState:
            target = await resumable_target(adv, execution_id)
            await adv.deliver(target.id, user_input)
            return target

        return await self.op(resume)


# --- use-cases the services build on ---------------------------------------------------


async def new_execution(
    adv: Advance,
    *,
    project_id: str,
    workflow_id: str,
    trigger_type: str,
    variables: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    system_extra: dict[str, Any] | None = None,
    conversation_id: str | None = None,
    observer: bool = False,
    require_active: bool = True,
    execution_id: str | None = None,
    tracking_id: str | None = None,
) -> ExecutionState:
    """Create an execution inside `adv` (not yet run: call `adv.start(state)`)."""
    workflow = await workflow_store.get_workflow(adv.conn, workflow_id, project_id=project_id)
    if workflow is None:
        raise WorkflowNotFound(workflow_id)
    if workflow["current_version_id"] is None:
        raise WorkflowNotRunnable(f"workflow {workflow['name']!r} has no definition yet")
    if require_active and workflow["status"] != "active":
        raise WorkflowNotRunnable(
            f"workflow {workflow['name']!r} is {workflow['status']}; it must be active"
        )
    version_id = str(workflow["current_version_id"])
    await runnable_graph(adv.runtime, adv.conn, str(workflow["name"]), version_id)
    now = adv.now
    execution_id = execution_id or new_id()
    tracking_id = tracking_id or new_id()
    state = ExecutionState.fresh(
        id=execution_id,
        project_id=project_id,
        workflow_id=workflow_id,
        version_id=version_id,
        context=build_context(
            workflow=workflow,
            execution_id=execution_id,
            trigger_type=trigger_type,
            tracking_id=tracking_id,
            now=now,
            variables=variables,
            context=context,
            metadata=metadata,
            system_extra=system_extra,
            observer=observer,
        ),
        tracking_id=tracking_id,
        trigger_type=trigger_type,
        observer=observer,
        conversation_id=conversation_id,
        now=now,
    )
    adv.adopt_new(state)
    adv.extra_writes.append(
        lambda conn: workflow_store.count_execution(conn, workflow_id, execution_id, now)
    )
    return state


async def runnable_graph(
    runtime: RuntimeView, conn: AsyncConnection, name: str, version_id: str
) -> CompiledGraph:
    """The compiled graph of a version an execution is about to start on. A version
    with problems (a draft may hold one) is never run: WorkflowNotRunnable lists them."""
    try:
        return await runtime.graphs.get(conn, version_id)
    except InvalidDefinition as exc:
        count = len(exc.report.errors)
        raise WorkflowNotRunnable(
            f"workflow {name!r} cannot run: its definition has {count} "
            f"problem{'s' if count != 1 else ''}: {exc.report.summary()}",
            exc.report,
        ) from exc


async def resumable_target(
    adv: Advance, execution_id: str, *, nowait: bool = False
) -> ExecutionState:
    """The execution that should receive input sent to `execution_id`: itself, or the
    deepest child it is waiting on. Raises NotWaiting when nothing waits for input.
    `nowait`: see store.executions.get_execution."""
    state = await adv.load(execution_id, nowait=nowait)
    seen = {state.id}
    while state.cursor.get("phase") == "await_child":
        child = await adv.load(str(state.cursor["child_id"]), nowait=nowait)
        if child.id in seen:
            break
        seen.add(child.id)
        state = child
    if state.status != st.WAITING or state.cursor.get("phase") not in ("await_input", "manual"):
        raise NotWaiting(state.id, state.status)
    return state


__all__ = [
    "ExecutionNotFound",
    "NotWaiting",
    "Runtime",
    "WorkflowNotFound",
    "WorkflowNotRunnable",
    "new_execution",
    "resumable_target",
    "runnable_graph",
]
