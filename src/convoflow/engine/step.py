"""What a step module sees while it runs: `StepRun`, and the `StepHandler` shape.

A step module (one per node type, under `engine/steps/`) exports `enter(run)` — called when
the execution arrives at the node — and, if the node can park, `on_signal(run, signal)`.
Both return an Outcome (engine.signals). Effects go through `StepRun`: events, outbound
messages, variables; the runtime writes them in the advancing transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from convoflow.engine.signals import Outcome, Signal
from convoflow.engine.state import ExecutionState
from convoflow.graph.templating import render_template, render_value

if TYPE_CHECKING:
    from convoflow.engine.ports import AdvanceView
    from convoflow.graph.compiled import CompiledNode


class StepHandler(Protocol):
    async def enter(self, run: StepRun) -> Outcome: ...

    async def on_signal(self, run: StepRun, signal: Signal) -> Outcome: ...


@dataclass
class ModuleHandler:
    """Adapts a step module's functions to StepHandler."""

    enter_fn: Callable[[StepRun], Awaitable[Outcome]]
    signal_fn: Callable[[StepRun, Signal], Awaitable[Outcome]] | None
    node_type: str

    async def enter(self, run: StepRun) -> Outcome:
        return await self.enter_fn(run)

    async def on_signal(self, run: StepRun, signal: Signal) -> Outcome:
        if self.signal_fn is None:
            raise UnexpectedSignal(
                f"a {self.node_type} node does not wait, yet received {type(signal).__name__}"
            )
        return await self.signal_fn(run, signal)


class UnexpectedSignal(Exception):
    pass


class StepRun:
    """The execution's current node, as seen by its step module during one advance."""

    def __init__(self, advance: AdvanceView, execution: ExecutionState, node: CompiledNode) -> None:
        self.advance = advance
        self.execution = execution
        self.node = node

    @property
    def config(self) -> Any:
        return self.node.config

    @property
    def now(self) -> datetime:
        return self.advance.now

    @property
    def vars(self) -> dict[str, Any]:
        return self.execution.vars

    @property
    def scope(self) -> dict[str, Any]:
        return self.execution.context

    @property
    def step_key(self) -> str:
        """Stable per visit of this node: the sequence number of its `step_entered` event."""
        seq = self.execution.cursor.get("entered_seq", self.execution.event_seq)
        return f"{self.execution.id}:{self.node.id}:{seq}"

    def emit(
        self,
        event_type: str,
        payload: dict[str, Any] | None = None,
        *,
        direction: str | None = None,
        edge_label: str | None = None,
    ) -> int:
        return self.advance.emit(
            self.execution,
            event_type,
            payload,
            node_id=self.node.id,
            direction=direction,
            edge_label=edge_label,
        )

    def send(self, message: dict[str, Any]) -> str:
        """Queue an outbound message; returns its idempotency key."""
        return self.advance.queue_message(self.execution, self.node.id, message)

    def set_vars(self, values: dict[str, Any], *, source: str) -> None:
        if not values:
            return
        self.vars.update(values)
        self.emit("variables_set", {"variables": sorted(values), "source": source})

    async def secrets(self) -> dict[str, str]:
        return await self.advance.project_secrets(self.execution.project_id)

    async def render(self, template: str | None, field: str) -> str:
        if not template:
            return ""
        secrets = await self.secrets() if "${ENV:" in template else {}
        result = render_template(
            template,
            self.scope,
            secrets=secrets,
            allow_process_env=self.advance.allow_process_env,
        )
        if result.missing:
            self._warn_missing(field, result.missing)
        return result.text

    async def render_any(self, value: Any, field: str) -> Any:
        secrets = await self.secrets() if "${ENV:" in repr(value) else {}
        rendered, missing = render_value(
            value,
            self.scope,
            secrets=secrets,
            allow_process_env=self.advance.allow_process_env,
        )
        if missing:
            self._warn_missing(field, missing)
        return rendered

    def _warn_missing(self, field: str, missing: list[str]) -> None:
        self.emit("template_variables_missing", {"field": field, "missing": missing})
