"""The outbox dispatcher: sends queued messages through their channel, exactly in order
per conversation, and records each send.

For a network channel: claim (journal-before, own commit) -> send -> record (commit). A
recorded send is never repeated. Sends that complete while a record is committing are
recorded together in the next one (one operation, a few statements for all of them).
A crash after the provider accepted a message but before the record commits leaves the
row `sending`; when its lease expires it is sent again — the only window in which a
duplicate is possible, and WhatsApp offers no idempotency key to close it.
Transactional channels (sandbox) send and record in one transaction: exactly once.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.channels.base import Channel, Delivery, SendResult
from convoflow.engine.committer import AfterCommit
from convoflow.ids import new_id
from convoflow.store import messages as message_store
from convoflow.store import outbox as outbox_store
from convoflow.store import whatsapp as whatsapp_store
from convoflow.store.faults import DatabaseUnavailable

if TYPE_CHECKING:
    from convoflow.engine.runtime import Runtime

log = structlog.get_logger(__name__)


_Sent = tuple[Delivery, SendResult, "asyncio.Future[None]"]


class Dispatcher:
    def __init__(self, runtime: Runtime, channels: dict[str, Channel], *, batch_size: int = 200):
        self.runtime = runtime
        self.channels = channels
        self.batch_size = batch_size
        self.sent = 0
        self._accepted: list[_Sent] = []  # accepted sends waiting for their record
        self._recorder: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        now = self.runtime.clock.now()

        async def claim(conn: AsyncConnection, _hooks: list[AfterCommit]) -> list[RowMapping]:
            return await outbox_store.claim_outbox(
                conn,
                now=now,
                lease_seconds=self.runtime.settings.outbox_lease_seconds,
                limit=self.batch_size,
            )

        rows = await self.runtime.committer.run(claim)
        if not rows:
            return 0
        async with self.runtime.db.read() as conn:
            conversations = await message_store.get_conversations(
                conn, sorted({r["conversation_id"] for r in rows if r["conversation_id"]})
            )
        # One sequence per conversation (its messages must arrive in order); rows
        # without a conversation have no order to keep.
        sequences: dict[str, list[RowMapping]] = defaultdict(list)
        for row in rows:
            sequences[row["conversation_id"] or row["id"]].append(row)
        await asyncio.gather(
            *(
                self._send_in_order(group, conversations.get(group[0]["conversation_id"] or ""))
                for group in sequences.values()
            )
        )
        return len(rows)

    async def _send_in_order(self, rows: list[RowMapping], conversation: RowMapping | None) -> None:
        for row in rows:
            try:
                await self._deliver(Delivery(row, conversation))
            except DatabaseUnavailable:
                # The database stayed away for the whole lease: this row, and the rest of
                # the conversation's queue, are claimed again when their leases end.
                log.warning(
                    "database unavailable; outbox delivery interrupted", outbox_id=row["id"]
                )
                return
            except Exception:
                log.exception("outbox delivery failed", outbox_id=row["id"])

    async def _deliver(self, delivery: Delivery) -> None:
        channel = self.channels.get(delivery.outbox["channel"])
        if channel is None:
            error = {
                "message": f"no channel {delivery.outbox['channel']!r} is configured to "
                "send this message",
                "code": "no_channel",
            }
            await self._record(delivery, SendResult("failed", error=error, fail_execution=True))
            return
        if channel.transactional:
            await self._record(delivery, None, channel)
            return
        try:
            result = await channel.send(delivery)
        except Exception as exc:
            log.exception("channel send raised", channel=channel.name)
            result = SendResult("retry", error={"message": str(exc)}, retry_after_seconds=5)
        self.runtime.metrics.send_answered(channel.name, delivery, result)
        if result.status == "sent":
            await self._record_sent(delivery, result)
        else:
            await self._record(delivery, result)

    async def _record_sent(self, delivery: Delivery, result: SendResult) -> None:
        """Record an accepted send: queued, and committed with the other sends accepted
        meanwhile (like the group committer, one batch in flight at a time). Returns once
        this send's record has committed (the next message of its conversation waits)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._accepted.append((delivery, result, future))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_accepted(), name="outbox-record")
        await future

    async def _record_accepted(self) -> None:
        while self._accepted:
            batch, self._accepted = self._accepted, []
            try:
                await self.runtime.committer.run(_SentBatch(self, batch).record)
            except Exception:
                # One bad row must not keep the others `sending` (they would be sent
                # again when their lease expires): record them one by one.
                log.warning("batched send record failed; recording one by one", sends=len(batch))
                for delivery, result, future in batch:
                    try:
                        await self._record(delivery, result)
                    except Exception as exc:
                        if not future.done():
                            future.set_exception(exc)
                        continue
                    if not future.done():
                        future.set_result(None)
                continue
            for _delivery, _result, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _record(
        self, delivery: Delivery, result: SendResult | None, channel: Channel | None = None
    ) -> None:
        from convoflow.engine.advance import Advance

        runtime = self.runtime

        async def record(conn: AsyncConnection, hooks: list[AfterCommit]) -> None:
            now = runtime.clock.now()
            outcome = result
            if outcome is None:
                assert channel is not None
                outcome = await channel.send_in_transaction(conn, delivery, now)
            row = delivery.outbox
            if outcome.status == "sent":
                if await outbox_store.mark_sent(
                    conn, row["id"], provider_message_id=outcome.provider_message_id, now=now
                ):
                    await _record_outbound_message(conn, delivery, outcome, now)
                    self.sent += 1
            elif outcome.status == "retry":
                delay = outcome.retry_after_seconds or 5.0
                await outbox_store.retry_later(
                    conn, row["id"], error=outcome.error or {}, at=now + timedelta(seconds=delay)
                )
            else:
                error = outcome.error or {}
                if not await outbox_store.mark_failed(conn, row["id"], error=error, now=now):
                    return  # recorded before (by a dispatcher whose lease ran out)
                adv = Advance(runtime, conn, now, hooks)
                await runtime.hooks.send_failed(adv, delivery, error)
                if outcome.fail_execution and row["execution_id"]:
                    await fail_for_send(adv, row["execution_id"], error)
                await adv.flush()

        # The result exists only in memory until this commits: through a database
        # outage, keep trying while the claim's lease lasts (after it the row may be
        # claimed and sent again).
        await runtime.committer.run_until_committed(record, within=_lease_left(delivery, runtime))


def _lease_left(delivery: Delivery, runtime: Runtime) -> float:
    until: datetime | None = delivery.outbox.get("locked_until")
    if until is None:
        return runtime.settings.outbox_lease_seconds
    return max(0.0, (until - runtime.clock.now()).total_seconds())


class _SentBatch:
    """One write operation recording accepted sends: `mark_sent` (only rows still
    `sending`: a recorded send is never undone), then the outbound message rows, the
    conversations' counters and receipts that overtook the record, each in one call."""

    def __init__(self, dispatcher: Dispatcher, batch: list[_Sent]) -> None:
        self.dispatcher = dispatcher
        self.batch = batch

    async def record(self, conn: AsyncConnection, _hooks: list[AfterCommit]) -> None:
        now = self.dispatcher.runtime.clock.now()
        moved = await outbox_store.mark_sent_many(
            conn,
            [(d.outbox["id"], r.provider_message_id) for d, r, _ in self.batch],
            now=now,
        )
        recorded = [(d, r) for d, r, _ in self.batch if d.outbox["id"] in moved]
        with_conversation = [(d, r) for d, r in recorded if d.conversation is not None]
        await whatsapp_store.lock_wamids(
            conn, [r.provider_message_id for _, r in with_conversation if r.provider_message_id]
        )
        rows = [_outbound_row(d, r, now) for d, r in with_conversation]
        await message_store.insert_messages(conn, rows)
        await message_store.touch_conversations(
            conn,
            [(row["conversation_id"], row["id"]) for row in rows],
            now=now,
            direction="outbound",
        )
        # A delivery receipt can overtake this record (the provider answers the send and
        # fires its webhook at once): catch up with receipts already stored.
        await whatsapp_store.apply_known_statuses_many(
            conn,
            {row["provider_message_id"]: row["id"] for row in rows if row["provider_message_id"]},
            now,
        )
        self.dispatcher.sent += len(recorded)


def _outbound_row(delivery: Delivery, result: SendResult, now: Any) -> dict[str, Any]:
    row = delivery.outbox
    message = row["message"]
    return {
        "id": new_id(),
        "project_id": row["project_id"],
        "conversation_id": row["conversation_id"],
        "direction": "outbound",
        "provider_message_id": result.provider_message_id,
        "message_type": message.get("type", "text"),
        "content": message,
        "status": "sent",
        "execution_id": row["execution_id"],
        "outbox_id": row["id"],
        "routing": None,
        "created_at": now,
        "updated_at": now,
    }


async def _record_outbound_message(
    conn: AsyncConnection, delivery: Delivery, result: SendResult, now: Any
) -> None:
    if delivery.conversation is None:
        return
    if result.provider_message_id:
        await whatsapp_store.lock_wamid(conn, result.provider_message_id)
    row = _outbound_row(delivery, result, now)
    await message_store.insert_message(conn, row)
    await message_store.touch_conversation(
        conn, row["conversation_id"], now=now, direction="outbound", message_id=row["id"]
    )
    if result.provider_message_id:
        # A delivery receipt can overtake this record (the provider answers the send and
        # fires its webhook at once): catch up with receipts already stored.
        await whatsapp_store.apply_known_statuses(conn, row["id"], result.provider_message_id, now)


async def fail_for_send(adv: Any, execution_id: str, error: dict[str, Any]) -> None:
    """A terminal send error the flow must see: fail the execution if it is still live."""
    from convoflow.engine import status as st

    state = await adv.load(execution_id)
    if state.status in st.TERMINAL:
        adv.emit(state, "action_failed", {"action": "send_message", "error": error})
        return
    message = str(error.get("message") or "message could not be sent")
    adv.emit(state, "action_failed", {"action": "send_message", "error": error})
    await adv.fail_execution(state, message, {"code": error.get("code", "send_failed")})
