"""Recording that an outbound message went out, from either witness: the dispatcher's own
HTTP answer, or a status webhook from the provider that names the outbox key of an
attempt whose answer was lost (the dispatcher died between the call and its record).

Both write the same rows: the outbox row moves to `sent` (only from an unresolved state,
so a send is recorded once), the conversation gets its outbound message, and receipts
that overtook the record are applied. A settled crash is made visible on the execution
with an `action_performed` event: `reconciled` (a status proved the attempt went out, no
resend) or `resent_after_crash` (no status came within the hold, so it is sent again).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.ids import new_id
from convoflow.store import executions as execution_store
from convoflow.store import messages as message_store
from convoflow.store import outbox as outbox_store
from convoflow.store import receipts as receipt_store

CrashOutcome = Literal["reconciled", "resent_after_crash"]


def outbound_row(
    outbox: RowMapping, provider_message_id: str | None, now: datetime
) -> dict[str, Any]:
    message = outbox["message"]
    return {
        "id": new_id(),
        "project_id": outbox["project_id"],
        "conversation_id": outbox["conversation_id"],
        "direction": "outbound",
        "provider_message_id": provider_message_id,
        "message_type": message.get("type", "text"),
        "content": message,
        "status": "sent",
        "execution_id": outbox["execution_id"],
        "outbox_id": outbox["id"],
        "routing": None,
        "created_at": now,
        "updated_at": now,
    }


async def record_outbound_message(
    conn: AsyncConnection, outbox: RowMapping, provider_message_id: str | None, now: datetime
) -> None:
    """The conversation's copy of a message just recorded as sent. The caller holds the
    provider message's lock (`outbox_store.lock_provider_messages`), taken before it moved
    the outbox row."""
    if outbox["conversation_id"] is None:
        return
    row = outbound_row(outbox, provider_message_id, now)
    await message_store.insert_message(conn, row)
    await message_store.touch_conversation(
        conn, row["conversation_id"], now=now, direction="outbound", message_id=row["id"]
    )
    if provider_message_id:
        # A delivery receipt can overtake this record (the provider answers the send and
        # fires its webhook at once): catch up with receipts already stored.
        await receipt_store.apply_known_statuses(
            conn, outbox["project_id"], row["id"], provider_message_id, now
        )


async def note_crash_outcome(
    conn: AsyncConnection, outbox: RowMapping, outcome: CrashOutcome, now: datetime, **extra: Any
) -> None:
    """The visible trace of how a lost attempt was settled, on its execution."""
    if not outbox["execution_id"]:
        return
    payload = {
        "action": "send_message",
        "outcome": outcome,
        "outbox_id": outbox["id"],
        "idempotency_key": outbox["idempotency_key"],
        "attempts": outbox["attempts"],
        **extra,
    }
    await execution_store.append_event(
        conn,
        str(outbox["execution_id"]),
        "action_performed",
        payload,
        event_id=new_id(),
        now=now,
        direction="outbound",
    )


async def reconcile_from_status(
    conn: AsyncConnection, project_id: str, outbox_key: str, wamid: str, now: datetime
) -> bool:
    """A status webhook for `wamid` carries `outbox_key` and we have no record of that
    wamid: if the project's row with that key was attempted and has no result, the
    provider accepted that attempt. Record it as sent (with the wamid) instead of sending
    it again. The caller holds the wamid lock. True when it recorded something."""
    row = await outbox_store.unresolved_by_key(conn, project_id, outbox_key)
    if row is None:
        return False
    if not await outbox_store.mark_sent_by_provider(
        conn, row["id"], provider_message_id=wamid, now=now
    ):
        return False
    await record_outbound_message(conn, row, wamid, now)
    lease = row["locked_until"]
    # Lost: held as uncertain, claimed again for a resend after its hold (uncertain_since
    # stays set; the dispatcher checks before sending), or a dead dispatcher's lease.
    lost = (
        row["status"] == "uncertain"
        or row["uncertain_since"] is not None
        or (row["status"] == "sending" and lease is not None and lease < now)
    )
    if lost:
        await note_crash_outcome(conn, row, "reconciled", now, wamid=wamid)
    return True
