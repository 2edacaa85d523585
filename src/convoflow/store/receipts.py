"""SQL for delivery receipts: the statuses a provider reports for a message we sent
(sent / delivered / read / failed), keyed by the project and its provider message id.

Scoped by project, never by the provider message id alone: a receipt is stored for the
project of the number that reported it, so another tenant posting a signed status for
the same id (it may know or guess it) neither blocks this project's receipt as a
duplicate nor is caught up with by this project's message.

Channel-neutral on purpose: the dispatcher (engine/, which knows no channel) records a
send and catches up with receipts that overtook it; the WhatsApp status webhook
(services/whatsapp/statuses.py) stores and applies them. Both go through here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store import dialects
from convoflow.store.schema import message_statuses, messages

# Status order for the monotonic rule (whatsapp-cloud-api.md §2.1): a receipt only moves
# a message forward. `failed` sits between sent and delivered: it overrides `sent`, and a
# later `delivered`/`read` (Meta retried successfully) overrides it.
STATUS_RANK = {"pending": 0, "sent": 1, "failed": 2, "delivered": 3, "read": 4}
# Meta's `played` (voice message listened to) is a stronger `read`.
STATUS_ALIASES = {"played": "read"}

# Built once, with bind parameters: these run for every status webhook and every send.
_INSERT_STATUS = dialects.per_dialect(
    lambda d: d.insert_ignoring(message_statuses, ["project_id", "provider_message_id", "status"])
)
_STATUSES_OF = (
    sa.select(message_statuses)
    .where(
        message_statuses.c.project_id == sa.bindparam("project_id"),
        message_statuses.c.provider_message_id == sa.bindparam("provider_message_id"),
    )
    .order_by(message_statuses.c.created_at, message_statuses.c.id)
)
# Monotonic in SQL, not only in Python: of two receipts for one message applied in
# concurrent transactions (PostgreSQL), the later writer re-checks the rank against the
# row the first one committed, so `read` is never overwritten by `delivered`.
_CURRENT_RANK = sa.case(STATUS_RANK, value=messages.c.status, else_=-1)
_MOVES_FORWARD = sa.and_(
    messages.c.id == sa.bindparam("message_id"), sa.bindparam("rank") > _CURRENT_RANK
)
_SET_MESSAGE_STATUS = (
    sa.update(messages)
    .where(_MOVES_FORWARD)
    .values(status=sa.bindparam("status"), updated_at=sa.bindparam("now"))
)
_SET_MESSAGE_STATUS_WITH_ERROR = (
    sa.update(messages)
    .where(_MOVES_FORWARD)
    .values(
        status=sa.bindparam("status"), error=sa.bindparam("error"), updated_at=sa.bindparam("now")
    )
)


async def insert_status(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Record a receipt (`row` names its project); False when this (project, provider
    message id, status) was recorded before."""
    result = await conn.execute(_INSERT_STATUS[conn.dialect.name], row)
    return bool(result.rowcount == 1)


async def statuses_of(
    conn: AsyncConnection, project_id: str, provider_message_id: str
) -> list[sa.RowMapping]:
    params = {"project_id": project_id, "provider_message_id": provider_message_id}
    result = await conn.execute(_STATUSES_OF, params)
    return list(result.mappings().all())


def effective_status(status: str) -> str | None:
    status = STATUS_ALIASES.get(status, status)
    return status if status in STATUS_RANK else None


def advances(current: str, new: str) -> bool:
    return STATUS_RANK.get(new, -1) > STATUS_RANK.get(current, -1)


async def set_message_status(
    conn: AsyncConnection,
    message_id: str,
    *,
    status: str,
    error: dict[str, Any] | None,
    now: datetime,
) -> None:
    params = {
        "message_id": message_id,
        "status": status,
        "now": now,
        "rank": STATUS_RANK.get(status, -1),
    }
    if error is None:
        await conn.execute(_SET_MESSAGE_STATUS, params)
    else:
        await conn.execute(_SET_MESSAGE_STATUS_WITH_ERROR, dict(params, error=error))


async def apply_known_statuses(
    conn: AsyncConnection, project_id: str, message_id: str, provider_message_id: str, now: Any
) -> None:
    """A just-recorded outbound message of `project_id` catches up with the project's
    receipts that overtook it."""
    receipts = await statuses_of(conn, project_id, provider_message_id)
    await _catch_up(conn, message_id, receipts, now)


async def _catch_up(
    conn: AsyncConnection, message_id: str, receipts: list[sa.RowMapping], now: Any
) -> None:
    best: sa.RowMapping | None = None
    for row in receipts:
        status = effective_status(row["status"])
        if status is not None and (best is None or advances(best["status"], status)):
            best = row
    if best is None:
        return
    status = effective_status(best["status"]) or "sent"
    if advances("sent", status):
        error = best["errors"][0] if best["errors"] else None
        await set_message_status(conn, message_id, status=status, error=error, now=now)
