"""What the runner needs from a place that runs flows; `local` and `remote` provide it.

Bot messages are given in the engine's channel-neutral shape (`{"type": "text", "text":
...}`, `{"type": "interactive", "interactive": {...}}`), whichever driver read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from convoflow.testing.model import Suite


class DriverError(Exception):
    """The run could not do what a step asked (the server refused, the flow is invalid);
    the message says what and why."""


@dataclass(frozen=True)
class Reply:
    """What the simulated user sends: typed text, or a tapped button / list row."""

    kind: str  # "text" | "button_reply" | "list_reply"
    text: str  # the text, or the option's title (what WhatsApp gives the flow as input)
    option_id: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """The execution the user is talking to (the deepest waiting child, if any)."""

    status: str
    variables: dict[str, Any]
    error: str | None = None


class Conversation(Protocol):
    async def start(self, variables: dict[str, Any]) -> list[dict[str, Any]]:
        """Start the flow; returns the bot messages it sent until it stopped."""
        ...

    async def send(
        self, reply: Reply, variables: dict[str, Any] | None
    ) -> list[dict[str, Any]]: ...

    async def advance_time(self, seconds: float) -> list[dict[str, Any]]: ...

    async def snapshot(self) -> Snapshot: ...


class Driver(Protocol):
    name: str

    async def prepare(self, suite: Suite) -> str:
        """Make the suite's flow runnable; returns a handle for `conversation`."""
        ...

    async def conversation(self, flow: str) -> Conversation: ...

    async def close(self) -> None: ...
