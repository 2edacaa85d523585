"""The sandbox channel: no network. A "sent" message is the outbound row in `messages`,
written in the same transaction that marks the outbox row sent, so every message is
delivered exactly once. `convoflow chat` reads the conversation from there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.channels.base import Delivery, SendResult


class SandboxChannel:
    name = "sandbox"
    transactional = True

    async def send(self, delivery: Delivery) -> SendResult:
        raise NotImplementedError("the sandbox channel sends inside a transaction")

    async def send_in_transaction(
        self, conn: AsyncConnection, delivery: Delivery, now: datetime
    ) -> SendResult:
        return SendResult(
            "sent", provider_message_id=f"sandbox.{delivery.outbox['idempotency_key']}"
        )
