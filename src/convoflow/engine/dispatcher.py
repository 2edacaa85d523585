"""The outbox dispatcher: sends queued messages through their channel, exactly in order
per conversation, and records each send.

For a network channel: claim (journal-before: the attempt is committed as `sending` with
a lease) -> send -> record the result at once (its own commit). A recorded send is never
repeated. A crash between the provider's answer and its record leaves the attempt
without a result; once its lease has run out it is *uncertain* and held for
`send_reconcile_seconds` (store/outbox.py), because WhatsApp sends take no idempotency
key: a status webhook carrying the attempt's outbox key (biz_opaque_callback_data)
records it as sent (engine/send_record.py); without one it is sent again when the hold
ends (at-least-once: a lost bot message stalls a conversation, a duplicate does not).
The hold is meant as time with a server up to take that webhook: it runs from when the
lost attempt is found, and again in full from each server's start-up
(engine/start_up.py, which also says what it does not cover).
Transactional channels (sandbox) send and record in the transaction that claims the row:
exactly once, and one commit instead of two.
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
from convoflow.engine.send_record import note_crash_outcome, record_outbound_message
from convoflow.store import messages as message_store
from convoflow.store import outbox as outbox_store
from convoflow.store.faults import DatabaseUnavailable

if TYPE_CHECKING:
    from convoflow.engine.advance import Advance
    from convoflow.engine.runtime import Runtime

log = structlog.get_logger(__name__)


# Rows claimed per round. A claimed row is a journaled attempt: after a crash, every
# attempt without a result is held as uncertain, so claim no more than the Graph client
# sends at once (channels/whatsapp/client.py IN_FLIGHT), not rows that would only queue.
CLAIM_BATCH = 32


class Dispatcher:
    def __init__(
        self, runtime: Runtime, channels: dict[str, Channel], *, batch_size: int = CLAIM_BATCH
    ):
        self.runtime = runtime
        self.channels = channels
        self.batch_size = batch_size
        self.sent = 0
        self._network = sorted(name for name, ch in channels.items() if not ch.transactional)

    async def hold_uncertain_from_now(self) -> int:
        """A server's start-up (engine/start_up.py): every attempt held as uncertain waits
        at least the reconcile hold from now, so the hold is time with a server up to
        take its status webhook (store/outbox.py: _HOLD_FROM_START). Returns how many
        were held longer; raises DatabaseUnavailable."""
        hold = timedelta(seconds=self.runtime.settings.send_reconcile_seconds)

        async def hold_them(conn: AsyncConnection, _hooks: list[AfterCommit]) -> int:
            return await outbox_store.hold_uncertain_until(conn, self.runtime.clock.now() + hold)

        return await self.runtime.committer.run(hold_them)

    async def run_once(self) -> int:
        now = self.runtime.clock.now()
        settings = self.runtime.settings
        sent_inline = 0

        async def claim(conn: AsyncConnection, hooks: list[AfterCommit]) -> list[RowMapping]:
            nonlocal sent_inline
            rows = await outbox_store.claim_outbox(
                conn,
                now=now,
                lease_seconds=settings.outbox_lease_seconds,
                limit=self.batch_size,
                network_channels=self._network,
                reconcile_seconds=settings.send_reconcile_seconds,
            )
            for row in rows:
                if row["uncertain_since"] is not None:
                    # Journaled with the claim, before the call: the hold ran out with no
                    # status proving the lost attempt went out.
                    await note_crash_outcome(conn, row, "resent_after_crash", now)
            left = await self._send_transactional(conn, rows, now, hooks)
            sent_inline = len(rows) - len(left)
            return left

        rows = await self.runtime.committer.run(claim)
        if not rows:
            return sent_inline
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
        return sent_inline + len(rows)

    async def _send_transactional(
        self, conn: AsyncConnection, rows: list[RowMapping], now: datetime, hooks: list[AfterCommit]
    ) -> list[RowMapping]:
        """Send the rows of transactional channels (the sandbox) in the claiming
        transaction itself: a send that is a write needs no lease and no second commit
        (a test chat's reply is on screen that much sooner). The claim takes only the
        head of each conversation's queue, so order is kept. Returns the rows left for
        the usual path (network channels, and any transactional send that was not
        "sent")."""
        inline = [row for row in rows if self._transactional(row)]
        if not inline:
            return rows
        conversations = await message_store.get_conversations(
            conn, sorted({r["conversation_id"] for r in inline if r["conversation_id"]})
        )
        done: set[str] = set()
        for row in inline:
            channel = self.channels[row["channel"]]
            delivery = Delivery(row, conversations.get(row["conversation_id"] or ""))
            outcome = await channel.send_in_transaction(conn, delivery, now)
            self._answered_on_commit(hooks, channel, delivery, outcome)
            if outcome.status == "sent":
                await self._record_sent(conn, delivery, outcome.provider_message_id, now, hooks)
                done.add(row["id"])
        return [row for row in rows if row["id"] not in done]

    def _transactional(self, row: RowMapping) -> bool:
        channel = self.channels.get(row["channel"])
        return channel is not None and channel.transactional

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
        if delivery.outbox["uncertain_since"] is not None and not await self._still_ours(delivery):
            # A resend after a crash: the lost attempt's status can arrive between the
            # claim and this call (the hold ran out just before it); it recorded the row
            # as sent, so sending again would only duplicate the message.
            return
        try:
            result = await channel.send(delivery)
        except Exception as exc:
            log.exception("channel send raised", channel=channel.name)
            result = SendResult("retry", error={"message": str(exc)}, retry_after_seconds=5)
        self.runtime.metrics.send_answered(channel.name, delivery, result)
        await self._record(delivery, result)

    async def _still_ours(self, delivery: Delivery) -> bool:
        row = delivery.outbox
        async with self.runtime.db.read() as conn:
            return await outbox_store.still_attempting(conn, row["id"], int(row["attempts"]))

    async def _record(
        self, delivery: Delivery, result: SendResult | None, channel: Channel | None = None
    ) -> None:
        """Commit the attempt's result at once, in its own operation (it shares a group
        commit only with operations already waiting): the shorter the time between the
        provider's answer and its record, the fewer sends a crash leaves uncertain."""
        runtime = self.runtime

        async def record(conn: AsyncConnection, hooks: list[AfterCommit]) -> None:
            now = runtime.clock.now()
            outcome = result
            if outcome is None:
                assert channel is not None
                outcome = await channel.send_in_transaction(conn, delivery, now)
                self._answered_on_commit(hooks, channel, delivery, outcome)
            row = delivery.outbox
            if outcome.status == "sent":
                await self._record_sent(conn, delivery, outcome.provider_message_id, now, hooks)
            elif outcome.status == "retry":
                delay = outcome.retry_after_seconds or 5.0
                await outbox_store.retry_later(
                    conn, row["id"], error=outcome.error or {}, at=now + timedelta(seconds=delay)
                )
            else:
                error = outcome.error or {}
                if not await outbox_store.mark_failed(conn, row["id"], error=error, now=now):
                    return  # recorded before (by a dispatcher whose lease ran out)
                adv = runtime.advance(conn, now, hooks)
                await runtime.hooks.send_failed(adv, delivery, error)
                if outcome.fail_execution and row["execution_id"]:
                    await fail_for_send(adv, row["execution_id"], error)
                await adv.flush()

        # The result exists only in memory until this commits: through a database
        # outage, keep trying while the claim's lease lasts (after it the row may be
        # claimed and sent again).
        await runtime.committer.run_until_committed(record, within=_lease_left(delivery, runtime))

    def _answered_on_commit(
        self, hooks: list[AfterCommit], channel: Channel, delivery: Delivery, outcome: SendResult
    ) -> None:
        """A transactional send happened only if its transaction commits (a group commit
        that fails is retried, running the send again): counted then, once."""
        metrics = self.runtime.metrics
        hooks.append(lambda: metrics.send_answered(channel.name, delivery, outcome))

    async def _record_sent(
        self,
        conn: AsyncConnection,
        delivery: Delivery,
        wamid: str | None,
        now: Any,
        hooks: list[AfterCommit],
    ) -> None:
        row = delivery.outbox
        if wamid and delivery.conversation is not None:
            # Before the outbox row: a status webhook for this message takes the same two
            # locks in the same order (services/whatsapp/statuses.py).
            await outbox_store.lock_provider_messages(conn, row["project_id"], wamid)
        if not await outbox_store.mark_sent(conn, row["id"], provider_message_id=wamid, now=now):
            return  # a status webhook recorded it first
        if delivery.conversation is not None:
            await record_outbound_message(conn, row, wamid, now)
        hooks.append(self._count_sent)  # after the commit: a retried batch records it again

    def _count_sent(self) -> None:
        self.sent += 1


def _lease_left(delivery: Delivery, runtime: Runtime) -> float:
    until: datetime | None = delivery.outbox.get("locked_until")
    if until is None:
        return runtime.settings.outbox_lease_seconds
    return max(0.0, (until - runtime.clock.now()).total_seconds())


async def fail_for_send(adv: Advance, execution_id: str, error: dict[str, Any]) -> None:
    """A terminal send error the flow must see: fail the execution if it is still live."""
    from convoflow.engine import status as st

    state = await adv.load(execution_id)
    if state.status in st.TERMINAL:
        adv.emit(state, "action_failed", {"action": "send_message", "error": error})
        return
    message = str(error.get("message") or "message could not be sent")
    adv.emit(state, "action_failed", {"action": "send_message", "error": error})
    await adv.fail_execution(state, message, {"code": error.get("code", "send_failed")})
