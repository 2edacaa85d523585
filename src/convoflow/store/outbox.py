"""SQL for the outbox: messages written by advances, sent afterwards by the dispatcher."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import outbox

_INSERT = sa.insert(outbox)


async def insert_outbox(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(_INSERT, rows)


async def claim_outbox(
    conn: AsyncConnection, *, now: datetime, lease_seconds: float, limit: int
) -> list[sa.RowMapping]:
    """Journal-before: mark due rows `sending` with a lease, in their own commit, before
    any network call. A row left in `sending` by a crashed dispatcher is due again when
    its lease runs out."""
    due = sa.or_(
        sa.and_(outbox.c.status == "pending", outbox.c.next_attempt_at <= now),
        sa.and_(outbox.c.status == "sending", outbox.c.locked_until < now),
    )
    # Only the head of each conversation's queue: messages of one conversation go out
    # one at a time, in order, even with several dispatchers.
    earlier = outbox.alias("earlier")
    blocked = sa.exists().where(
        earlier.c.conversation_id == outbox.c.conversation_id,
        earlier.c.status.in_(("pending", "sending")),
        sa.or_(
            earlier.c.created_at < outbox.c.created_at,
            sa.and_(earlier.c.created_at == outbox.c.created_at, earlier.c.id < outbox.c.id),
        ),
    )
    candidates = (
        sa.select(outbox.c.id)
        .where(due)
        .where(~blocked)
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        sa.update(outbox)
        .where(outbox.c.id.in_(candidates.scalar_subquery()))
        .values(
            status="sending",
            locked_until=now + timedelta(seconds=lease_seconds),
            attempts=outbox.c.attempts + 1,
        )
        .returning(*outbox.c)
    )
    result = await conn.execute(stmt)
    rows = list(result.mappings().all())
    rows.sort(key=lambda r: (r["created_at"], r["id"]))
    return rows


_STILL_SENDING = sa.and_(outbox.c.id == sa.bindparam("outbox_id"), outbox.c.status == "sending")
_MARK_SENT = (
    sa.update(outbox)
    .where(_STILL_SENDING)
    .values(
        status="sent",
        provider_message_id=sa.bindparam("provider_message_id"),
        sent_at=sa.bindparam("now"),
        locked_until=None,
        error=None,
    )
)
_MARK_FAILED = (
    sa.update(outbox)
    .where(_STILL_SENDING)
    .values(status="failed", error=sa.bindparam("error"), locked_until=None, sent_at=None)
)
_RETRY_LATER = (
    sa.update(outbox)
    .where(_STILL_SENDING)
    .values(
        status="pending",
        error=sa.bindparam("error"),
        locked_until=None,
        next_attempt_at=sa.bindparam("at"),
    )
)


async def mark_sent(
    conn: AsyncConnection, outbox_id: str, *, provider_message_id: str | None, now: datetime
) -> bool:
    """Record a send. Only a row still `sending` moves: a recorded send is never undone."""
    result = await conn.execute(
        _MARK_SENT,
        {"outbox_id": outbox_id, "provider_message_id": provider_message_id, "now": now},
    )
    return bool(result.rowcount == 1)


async def mark_failed(
    conn: AsyncConnection, outbox_id: str, *, error: dict[str, Any], now: datetime
) -> None:
    await conn.execute(_MARK_FAILED, {"outbox_id": outbox_id, "error": error})


async def retry_later(
    conn: AsyncConnection, outbox_id: str, *, error: dict[str, Any], at: datetime
) -> None:
    await conn.execute(_RETRY_LATER, {"outbox_id": outbox_id, "error": error, "at": at})


async def pending_count(conn: AsyncConnection) -> int:
    result = await conn.execute(
        sa.select(sa.func.count())
        .select_from(outbox)
        .where(outbox.c.status != "sent")
        .where(outbox.c.status != "failed")
    )
    return int(result.scalar() or 0)
