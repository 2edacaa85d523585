"""SQL for the outbox: messages written by advances, sent afterwards by the dispatcher."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store import dialects
from convoflow.store.schema import outbox

_INSERT = sa.insert(outbox)
# Rows that still hold their conversation's queue: not yet sent, or sent without a result.
UNRESOLVED = ("pending", "sending", "uncertain")


def provider_message_lock_key(project_id: str, provider_message_id: str) -> str:
    # Per project, as receipts are: another tenant's status webhook naming the same id
    # neither waits for nor holds up this project's writers.
    return f"wamid:{project_id}:{provider_message_id}"


async def lock_provider_messages(
    conn: AsyncConnection, project_id: str, *provider_message_ids: str
) -> None:
    """Serialise the two writers of one sent message's state: recording the send (the
    dispatcher) and applying the provider's receipt for it (a status webhook). Without it,
    on PostgreSQL each could commit without seeing the other's row and a `failed` receipt
    would be lost. Several messages are locked in one statement, sorted (two transactions
    locking overlapping sets take them in the same order). A no-op on SQLite, which has
    one writer."""
    keys = sorted(provider_message_lock_key(project_id, pid) for pid in provider_message_ids)
    await dialects.of(conn).advisory_locks(conn, keys)


async def insert_outbox(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(_INSERT, rows)


# Built once (they run on every dispatcher round). Journal-before: due rows are marked
# `sending` with a lease, in their own commit, before any network call.
#
# A `sending` row whose lease ran out belongs to a dispatcher that is gone (the lease is
# far longer than a send's timeout, so a live one has recorded its result by then). For a
# network channel that attempt is *uncertain*: the provider may have accepted it. It is
# held (`uncertain`, due again after the reconcile hold) so that a status webhook carrying
# its key can record it as sent; only if none comes is it sent again. A transactional
# channel's lost attempt never reached anyone and is simply due again.
_LOST = sa.and_(outbox.c.status == "sending", outbox.c.locked_until < sa.bindparam("b_now"))
_HOLD_LOST = (
    sa.update(outbox)
    .where(_LOST, outbox.c.channel.in_(sa.bindparam("b_channels", expanding=True)))
    .values(
        status="uncertain",
        next_attempt_at=sa.bindparam("b_hold_until"),
        locked_until=None,
        uncertain_since=sa.bindparam("b_now"),
    )
)
_EARLIER = outbox.alias("earlier")
_CLAIM_CANDIDATES = (
    sa.select(outbox.c.id)
    .where(
        sa.or_(
            sa.and_(
                outbox.c.status.in_(("pending", "uncertain")),
                outbox.c.next_attempt_at <= sa.bindparam("b_now"),
            ),
            _LOST,
        )
    )
    # Only the head of each conversation's queue: messages of one conversation go out
    # one at a time, in order, even with several dispatchers.
    .where(
        ~sa.exists().where(
            _EARLIER.c.conversation_id == outbox.c.conversation_id,
            _EARLIER.c.status.in_(UNRESOLVED),
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
    conn: AsyncConnection,
    *,
    now: datetime,
    lease_seconds: float,
    limit: int,
    network_channels: list[str],
    reconcile_seconds: float,
) -> list[sa.RowMapping]:
    """Hold the lost attempts of `network_channels` (see `_HOLD_LOST`), then mark due
    rows `sending` with a lease (journal-before). A returned row with `uncertain_since`
    set is sent again after a crash: its hold ran out without a status webhook."""
    if network_channels:
        await conn.execute(
            _HOLD_LOST,
            {
                "b_now": now,
                "b_hold_until": now + timedelta(seconds=reconcile_seconds),
                "b_channels": network_channels,
            },
        )
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


# A server's start-up. A status webhook reaches only a running server, so the hold must
# be time with one up: an attempt held as uncertain is due no sooner than `b_hold_until`
# (the start + the hold), whatever part of its hold ran out while no server was up (a
# crash, a kill storm, the webhook backlog draining after it). Rows of every process move:
# on PostgreSQL one server's start delays another's held resends by at most the hold,
# and never brings one forward. `pending` rows (due sends, retries) are not touched.
_HOLD_FROM_START = (
    sa.update(outbox)
    .where(
        outbox.c.status == "uncertain",
        outbox.c.next_attempt_at < sa.bindparam("b_hold_until"),
    )
    .values(next_attempt_at=sa.bindparam("b_hold_until"))
)


async def hold_uncertain_until(conn: AsyncConnection, hold_until: datetime) -> int:
    """Every attempt held as uncertain waits at least until `hold_until` (see
    `_HOLD_FROM_START`); returns how many were held longer."""
    result = await conn.execute(_HOLD_FROM_START, {"b_hold_until": hold_until})
    return int(result.rowcount or 0)


# A result is recorded for an attempt whose lease ran out too (`uncertain`): a live but
# slow dispatcher's answer is the truth about its attempt. Recording clears the hold.
# Two equalities, not `IN (...)`: an IN of literals compiles to an expanding parameter,
# which keeps the dispatcher's per-message record off SQLite's prebuilt write path
# (store/dialects/sqlite_writes.py).
_STILL_SENDING = sa.and_(
    outbox.c.id == sa.bindparam("outbox_id"),
    sa.or_(outbox.c.status == "sending", outbox.c.status == "uncertain"),
)
_SENT_VALUES: dict[str, Any] = {
    "status": "sent",
    "provider_message_id": sa.bindparam("provider_message_id"),
    "sent_at": sa.bindparam("now"),
    "locked_until": None,
    "error": None,
    "uncertain_since": None,
}
_MARK_SENT = sa.update(outbox).where(_STILL_SENDING).values(**_SENT_VALUES)
_MARK_FAILED = (
    sa.update(outbox)
    .where(_STILL_SENDING)
    .values(
        status="failed",
        error=sa.bindparam("error"),
        locked_until=None,
        sent_at=None,
        uncertain_since=None,
    )
)
_RETRY_LATER = (
    sa.update(outbox)
    .where(_STILL_SENDING)
    .values(
        status="pending",
        error=sa.bindparam("error"),
        locked_until=None,
        next_attempt_at=sa.bindparam("at"),
        uncertain_since=None,
    )
)


async def mark_sent(
    conn: AsyncConnection, outbox_id: str, *, provider_message_id: str | None, now: datetime
) -> bool:
    """Record a send. Only an attempt without a result moves: a recorded send is never
    undone."""
    result = await conn.execute(
        _MARK_SENT,
        {"outbox_id": outbox_id, "provider_message_id": provider_message_id, "now": now},
    )
    return bool(result.rowcount == 1)


_BY_KEY = sa.select(outbox).where(
    outbox.c.project_id == sa.bindparam("b_project_id"),
    outbox.c.idempotency_key == sa.bindparam("b_key"),
)
_SENT_BY_KEY = (
    sa.update(outbox)
    .where(
        outbox.c.id == sa.bindparam("outbox_id"),
        outbox.c.status.in_(UNRESOLVED),
        outbox.c.attempts > 0,
    )
    .values(**_SENT_VALUES)
)


async def unresolved_by_key(
    conn: AsyncConnection, project_id: str, key: str
) -> sa.RowMapping | None:
    """The project's outbox row with this idempotency key, if it has been attempted and
    has no recorded result (what a status webhook's tracker can still settle)."""
    row = (await conn.execute(_BY_KEY, {"b_project_id": project_id, "b_key": key})).mappings()
    found = row.first()
    if found is None or found["status"] not in UNRESOLVED or not found["attempts"]:
        return None
    return found


_STATUS_OF = sa.select(outbox.c.status, outbox.c.attempts).where(
    outbox.c.id == sa.bindparam("b_id")
)


async def still_attempting(conn: AsyncConnection, outbox_id: str, attempts: int) -> bool:
    """Whether the row is still `sending` as attempt `attempts` (nothing, e.g. a status
    webhook, has recorded a result since that attempt was claimed)."""
    row = (await conn.execute(_STATUS_OF, {"b_id": outbox_id})).first()
    return row is not None and row.status == "sending" and int(row.attempts) == attempts


async def mark_sent_by_provider(
    conn: AsyncConnection, outbox_id: str, *, provider_message_id: str, now: datetime
) -> bool:
    """Record as sent an attempted row the provider reported (pending after a timeout,
    `sending`, or `uncertain`); False if a result was recorded meanwhile."""
    result = await conn.execute(
        _SENT_BY_KEY,
        {"outbox_id": outbox_id, "provider_message_id": provider_message_id, "now": now},
    )
    return bool(result.rowcount == 1)


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
        sa.select(sa.func.count()).select_from(outbox).where(outbox.c.status.in_(UNRESOLVED))
    )
    return int(result.scalar() or 0)
