"""The channel interface the outbox dispatcher sends through.

Outbound messages are channel-neutral dicts written by the send steps:
`{"type": "text", "text": ...}`, `{"type": "template", "template": {...}}`,
`{"type": "interactive", "interactive": {<Kapso send_interactive fields>}}`, optionally
with `to` / `from` overrides. A channel turns one into its wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class Delivery:
    outbox: RowMapping
    conversation: RowMapping | None

    @property
    def message(self) -> dict[str, Any]:
        value: dict[str, Any] = self.outbox["message"]
        return value


@dataclass(frozen=True)
class SendResult:
    status: Literal["sent", "retry", "failed"]
    provider_message_id: str | None = None
    error: dict[str, Any] | None = None
    retry_after_seconds: float | None = None
    # A terminal error that the flow should see (e.g. outside the 24-hour window).
    fail_execution: bool = False


class Channel(Protocol):
    name: str
    # True: sending is a database write, done inside the transaction that records it, so
    # a send is exactly-once. False: a network call between two transactions.
    transactional: bool

    async def send(self, delivery: Delivery) -> SendResult: ...

    async def send_in_transaction(
        self, conn: AsyncConnection, delivery: Delivery, now: datetime
    ) -> SendResult: ...
