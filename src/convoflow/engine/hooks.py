"""Extension points called inside the advancing transaction when an execution changes
state, or inside the dispatcher's record of a refused send, so that what they write
(e.g. project webhook deliveries) commits with it.

Generic in the advance they are given (`A`: `engine/advance.py: Advance` in a running
process), so that this module, which the runtime builds on, does not import the advance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from convoflow.channels.base import Delivery
    from convoflow.engine.state import ExecutionState

A = TypeVar("A")
A_contra = TypeVar("A_contra", contravariant=True)


class ExecutionListener(Protocol[A_contra]):
    def execution_finished(self, adv: A_contra, state: ExecutionState) -> None: ...

    def execution_failed(self, adv: A_contra, state: ExecutionState) -> None: ...

    def execution_handoff(self, adv: A_contra, state: ExecutionState) -> None: ...


class SendListener(Protocol[A_contra]):
    async def send_failed(self, adv: A_contra, delivery: Delivery, error: dict[str, Any]) -> None:
        """The channel refused `delivery` for good (no retry left)."""


class EngineHooks(Generic[A]):
    def __init__(
        self,
        listeners: Sequence[ExecutionListener[A]] = (),
        send_listeners: Sequence[SendListener[A]] = (),
    ) -> None:
        self.listeners = tuple(listeners)
        self.send_listeners = tuple(send_listeners)

    async def send_failed(self, adv: A, delivery: Delivery, error: dict[str, Any]) -> None:
        for listener in self.send_listeners:
            await listener.send_failed(adv, delivery, error)

    def execution_finished(self, adv: A, state: ExecutionState) -> None:
        for listener in self.listeners:
            listener.execution_finished(adv, state)

    def execution_failed(self, adv: A, state: ExecutionState) -> None:
        for listener in self.listeners:
            listener.execution_failed(adv, state)

    def execution_handoff(self, adv: A, state: ExecutionState) -> None:
        for listener in self.listeners:
            listener.execution_handoff(adv, state)
