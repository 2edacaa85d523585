"""Extension points called inside the advancing transaction when an execution changes
state, or inside the dispatcher's record of a refused send, so that what they write
(e.g. project webhook deliveries) commits with it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from convoflow.channels.base import Delivery
    from convoflow.engine.advance import Advance
    from convoflow.engine.state import ExecutionState


class ExecutionListener(Protocol):
    def execution_finished(self, adv: Advance, state: ExecutionState) -> None: ...

    def execution_failed(self, adv: Advance, state: ExecutionState) -> None: ...

    def execution_handoff(self, adv: Advance, state: ExecutionState) -> None: ...


class SendListener(Protocol):
    async def send_failed(self, adv: Advance, delivery: Delivery, error: dict[str, Any]) -> None:
        """The channel refused `delivery` for good (no retry left)."""


class EngineHooks:
    def __init__(
        self,
        listeners: Sequence[ExecutionListener] = (),
        send_listeners: Sequence[SendListener] = (),
    ) -> None:
        self.listeners = tuple(listeners)
        self.send_listeners = tuple(send_listeners)

    async def send_failed(self, adv: Advance, delivery: Delivery, error: dict[str, Any]) -> None:
        for listener in self.send_listeners:
            await listener.send_failed(adv, delivery, error)

    def execution_finished(self, adv: Advance, state: ExecutionState) -> None:
        for listener in self.listeners:
            listener.execution_finished(adv, state)

    def execution_failed(self, adv: Advance, state: ExecutionState) -> None:
        for listener in self.listeners:
            listener.execution_failed(adv, state)

    def execution_handoff(self, adv: Advance, state: ExecutionState) -> None:
        for listener in self.listeners:
            listener.execution_handoff(adv, state)
