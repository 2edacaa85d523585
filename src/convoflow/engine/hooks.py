"""Extension points called inside the advancing transaction when an execution changes
state, so that what they write (e.g. project webhook deliveries) commits with it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from convoflow.engine.advance import Advance
    from convoflow.engine.state import ExecutionState


class ExecutionListener(Protocol):
    def execution_finished(self, adv: Advance, state: ExecutionState) -> None: ...

    def execution_failed(self, adv: Advance, state: ExecutionState) -> None: ...

    def execution_handoff(self, adv: Advance, state: ExecutionState) -> None: ...


class EngineHooks:
    def __init__(self) -> None:
        self.listeners: list[ExecutionListener] = []

    def execution_finished(self, adv: Advance, state: ExecutionState) -> None:
        for listener in self.listeners:
            listener.execution_finished(adv, state)

    def execution_failed(self, adv: Advance, state: ExecutionState) -> None:
        for listener in self.listeners:
            listener.execution_failed(adv, state)

    def execution_handoff(self, adv: Advance, state: ExecutionState) -> None:
        for listener in self.listeners:
            listener.execution_handoff(adv, state)
