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


# Built once (it runs on every dispatcher round). Journal-before: due rows are marked
# `sending` with a lease, in their own commit, before any network call; a row left in
# `sending` by a crashed dispatcher is due again when its lease runs out.
_EARLIER = outbox.alias("earlier")
_CLAIM_CANDIDATES = (
    sa.select(outbox.c.id)
    .where(
        sa.or_(
            sa.and_(
                outbox.c.status == "pending", outbox.c.next_attempt_at <= sa.bindparam("b_now")
            ),
            sa.and_(outbox.c.status == "sending", outbox.c.locked_until < sa.bindparam("b_now")),
        )
    )
    # Only the head of each conversation's queue: messages of one conversation go out
    # one at a time, in order, even with several dispatchers.
    .where(
        ~sa.exists().where(
            _EARLIER.c.conversation_id == outbox.c.conversation_id,
            _EARLIER.c.status.in_(("pending", "sending")),
            sa.or_(
                _EARLIER.c.created_at < outbox.c.created_at,
                sa.and_(_EARLIER.c.created_at == outbox.c.created_at, _EARLIER.c.id < outbox.c.id),
            ),
        )
    )
    .order_by(outbox.c.next_attempt_at, outbox.c.id)
    .limit(sa.bindparam("b_limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    sa.update(outbox)
    .where(outbox.c.id.in_(_CLAIM_CANDIDATES.scalar_subquery()))
    .values(
        status="sending",
        locked_until=sa.bindparam("b_locked_until"),
        attempts=outbox.c.attempts + 1,
    )
    .returning(*outbox.c)
)


async def claim_outbox(
    conn: AsyncConnection, *, now: datetime, lease_seconds: float, limit: int
) -> list[sa.RowMapping]:
    """Journal-before: mark due rows `sending` with a lease (see `_CLAIM`)."""
    result = await conn.execute(
        _CLAIM,
        {
            "b_now": now,
            "b_locked_until": now + timedelta(seconds=lease_seconds),
            "b_limit": limit,
        },
    )
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


_STILL_SENDING_IDS = sa.select(outbox.c.id).where(
    outbox.c.id.in_(sa.bindparam("ids", expanding=True)), outbox.c.status == "sending"
)
_STILL_SENDING_IDS_FOR_UPDATE = _STILL_SENDING_IDS.with_for_update()


async def mark_sent_many(
    conn: AsyncConnection, sends: list[tuple[str, str | None]], *, now: datetime
) -> set[str]:
    """`mark_sent` for several (outbox id, provider message id) at once; returns the ids
    that moved. Two statements whatever the count: the rows still `sending` are read
    (locked on PostgreSQL, so none can change before the update), then updated."""
    if len(sends) == 1:
        outbox_id, provider_message_id = sends[0]
        moved = await mark_sent(conn, outbox_id, provider_message_id=provider_message_id, now=now)
        return {outbox_id} if moved else set()
    stmt = _STILL_SENDING_IDS if conn.dialect.name == "sqlite" else _STILL_SENDING_IDS_FOR_UPDATE
    result = await conn.execute(stmt, {"ids": [outbox_id for outbox_id, _ in sends]})
    sending = {str(value) for value in result.scalars()}
    params = [
        {"outbox_id": outbox_id, "provider_message_id": provider_message_id, "now": now}
        for outbox_id, provider_message_id in sends
        if outbox_id in sending
    ]
    if params:
        await conn.execute(_MARK_SENT, params)
    return sending


async def mark_failed(
    conn: AsyncConnection, outbox_id: str, *, error: dict[str, Any], now: datetime
) -> bool:
    """Record a final refusal; False if the row was no longer `sending` (recorded before)."""
    result = await conn.execute(_MARK_FAILED, {"outbox_id": outbox_id, "error": error})
    return bool(result.rowcount == 1)


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
