"""SQL for the WhatsApp webhook: raw receipts, delivery statuses, the conversation of a
(number, user) pair, and the workflow settings an inbound message needs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store import dialects
from convoflow.store import outbox as outbox_store
from convoflow.store.executions import ACTIVE_ROOTS
from convoflow.store.schema import (
    conversations,
    executions,
    message_statuses,
    messages,
    phone_numbers,
    triggers,
    whatsapp_webhook_receipts,
    workflows,
)

# Status order for the monotonic rule (whatsapp-cloud-api.md §2.1): a receipt only moves
# a message forward. `failed` sits between sent and delivered: it overrides `sent`, and a
# later `delivered`/`read` (Meta retried successfully) overrides it.
STATUS_RANK = {"pending": 0, "sent": 1, "failed": 2, "delivered": 3, "read": 4}
# Meta's `played` (voice message listened to) is a stronger `read`.
STATUS_ALIASES = {"played": "read"}


# Built once, with bind parameters: these run for every webhook, and building a
# statement (plus its cache key) costs more than running it on SQLite.
_INSERT_RECEIPT = sa.insert(whatsapp_webhook_receipts)
_INSERT_STATUS = dialects.per_dialect(
    lambda d: d.insert_ignoring(message_statuses, ["provider_message_id", "status"])
)
_STATUSES_OF = (
    sa.select(message_statuses)
    .where(message_statuses.c.provider_message_id == sa.bindparam("wamid"))
    .order_by(message_statuses.c.created_at, message_statuses.c.id)
)
_STATUSES_OF_MANY = (
    sa.select(message_statuses)
    .where(message_statuses.c.provider_message_id.in_(sa.bindparam("wamids", expanding=True)))
    .order_by(message_statuses.c.created_at, message_statuses.c.id)
)
_MESSAGE_BY_WAMID = sa.select(messages).where(
    messages.c.provider_message_id == sa.bindparam("wamid")
)


# The project that owns the number: a conversation keyed by (number, user) counts only
# there, so one left in another project (by whatever means) can never receive, or read,
# the user's messages to the number.
_NUMBER_OWNER = (
    sa.select(phone_numbers.c.project_id)
    .where(phone_numbers.c.phone_number_id == sa.bindparam("phone_number_id"))
    .scalar_subquery()
)


def _newest_active_conversation(stmt: sa.Select[Any]) -> sa.Select[Any]:
    """`stmt` narrowed to the newest active conversation of (phone_number_id, wa_id) in
    the project that owns the number."""
    return (
        stmt.where(conversations.c.phone_number_id == sa.bindparam("phone_number_id"))
        .where(conversations.c.project_id == _NUMBER_OWNER)
        .where(conversations.c.wa_id == sa.bindparam("wa_id"))
        .where(conversations.c.status == "active")
        .where(conversations.c.channel == "whatsapp")
        .order_by(conversations.c.created_at.desc(), conversations.c.id.desc())
        .limit(1)
    )


_ACTIVE_CONVERSATION = _newest_active_conversation(sa.select(conversations))

# The newest active root execution of the conversation in the outer query.
_ACTIVE_ROOT_ID = (
    sa.select(executions.c.id)
    .where(executions.c.conversation_id == conversations.c.id, *ACTIVE_ROOTS)
    .order_by(executions.c.created_at.desc())
    .limit(1)
    .correlate(conversations)
    .scalar_subquery()
)
# What an inbound message needs, in one statement instead of three: the conversation,
# the debounce / read mode / status of the flow running on it (as
# the newest active root execution), and whether its project has whatsapp_event triggers at
# all (most have none: then no trigger lookup per event).
_ACTIVE_CONVERSATION_AND_FLOW = _newest_active_conversation(
    sa.select(
        conversations,
        workflows.c.message_debounce_seconds.label("flow_debounce_seconds"),
        workflows.c.inbound_message_read_mode.label("flow_read_mode"),
        executions.c.status.label("flow_status"),
        sa.exists()
        .where(triggers.c.project_id == conversations.c.project_id)
        .where(triggers.c.trigger_type == "whatsapp_event")
        .where(triggers.c.active.is_(True))
        .correlate(conversations)
        .label("has_event_triggers"),
    ).select_from(
        conversations.outerjoin(executions, executions.c.id == _ACTIVE_ROOT_ID).outerjoin(
            workflows, workflows.c.id == executions.c.workflow_id
        )
    )
)
# The number's active inbound_message workflow: its id and the settings inbound messages
# are handled with.
_INBOUND_WORKFLOW = (
    sa.select(
        workflows.c.id,
        workflows.c.message_debounce_seconds,
        workflows.c.inbound_message_read_mode,
    )
    .join(triggers, triggers.c.workflow_id == workflows.c.id)
    .where(triggers.c.project_id == sa.bindparam("project_id"))
    .where(triggers.c.trigger_type == "inbound_message")
    .where(triggers.c.active.is_(True))
    .where(triggers.c.phone_number_id == sa.bindparam("phone_number_id"))
    .where(workflows.c.status == "active")
    .order_by(triggers.c.created_at)
    .limit(1)
)
_PROJECT_EVENT_TRIGGERS = (
    sa.select(triggers.c.id, triggers.c.workflow_id, triggers.c.event, triggers.c.phone_number_id)
    .join(workflows, workflows.c.id == triggers.c.workflow_id)
    .where(triggers.c.project_id == sa.bindparam("project_id"))
    .where(triggers.c.trigger_type == "whatsapp_event")
    .where(triggers.c.active.is_(True))
    .where(workflows.c.status == "active")
    .order_by(triggers.c.created_at, triggers.c.id)
)
_SET_CONTACT_NAME = (
    sa.update(conversations)
    .where(conversations.c.id == sa.bindparam("conversation_id"))
    .values(contact_name=sa.bindparam("name"), updated_at=sa.bindparam("now"))
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
_LATEST_INBOUND = (
    sa.select(messages.c.provider_message_id)
    .where(messages.c.conversation_id == sa.bindparam("conversation_id"))
    .where(messages.c.direction == "inbound")
    .where(messages.c.provider_message_id.is_not(None))
    .order_by(messages.c.created_at.desc(), messages.c.id.desc())
    .limit(1)
)


async def insert_receipt(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(_INSERT_RECEIPT, row)


async def insert_status(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Record a receipt; False when this (wamid, status) was recorded before."""
    result = await conn.execute(_INSERT_STATUS[conn.dialect.name], row)
    return bool(result.rowcount == 1)


async def statuses_of(conn: AsyncConnection, wamid: str) -> list[sa.RowMapping]:
    result = await conn.execute(_STATUSES_OF, {"wamid": wamid})
    return list(result.mappings().all())


async def message_by_wamid(conn: AsyncConnection, wamid: str) -> sa.RowMapping | None:
    result = await conn.execute(_MESSAGE_BY_WAMID, {"wamid": wamid})
    row: sa.RowMapping | None = result.mappings().first()
    return row


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
    conn: AsyncConnection, message_id: str, wamid: str, now: Any
) -> None:
    """A just-recorded outbound message catches up with receipts that overtook it."""
    await _catch_up(conn, message_id, await statuses_of(conn, wamid), now)


async def apply_known_statuses_many(
    conn: AsyncConnection, messages_by_wamid: dict[str, str], now: Any
) -> None:
    """`apply_known_statuses` for several just-recorded messages ({wamid: message id}),
    with one read of the receipts."""
    if not messages_by_wamid:
        return
    result = await conn.execute(_STATUSES_OF_MANY, {"wamids": list(messages_by_wamid)})
    found: dict[str, list[sa.RowMapping]] = {}
    for row in result.mappings():
        found.setdefault(row["provider_message_id"], []).append(row)
    for wamid, rows in found.items():
        await _catch_up(conn, messages_by_wamid[wamid], rows, now)


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


async def find_active_conversation(
    conn: AsyncConnection, phone_number_id: str, wa_id: str
) -> sa.RowMapping | None:
    params = {"phone_number_id": phone_number_id, "wa_id": wa_id}
    row: sa.RowMapping | None = (
        (await conn.execute(_ACTIVE_CONVERSATION, params)).mappings().first()
    )
    return row


async def find_active_conversation_and_flow(
    conn: AsyncConnection, phone_number_id: str, wa_id: str
) -> sa.RowMapping | None:
    """The active conversation with `flow_debounce_seconds`, `flow_read_mode`,
    `flow_status` (None without a running flow) and `has_event_triggers`."""
    params = {"phone_number_id": phone_number_id, "wa_id": wa_id}
    row: sa.RowMapping | None = (
        (await conn.execute(_ACTIVE_CONVERSATION_AND_FLOW, params)).mappings().first()
    )
    return row


async def lock_route(conn: AsyncConnection, phone_number_id: str, wa_id: str) -> None:
    """Serialise creating the conversation of one (number, user) pair across processes
    (PostgreSQL advisory lock until commit; SQLite has a single writer already)."""
    await dialects.of(conn).advisory_locks(conn, [f"wa-route:{phone_number_id}:{wa_id}"])


async def lock_wamids(conn: AsyncConnection, wamids: list[str]) -> None:
    """`outbox.lock_provider_message` for several messages in one statement (sorted:
    two transactions locking overlapping sets take them in the same order)."""
    keys = sorted(outbox_store.provider_message_lock_key(wamid) for wamid in wamids)
    await dialects.of(conn).advisory_locks(conn, keys)


async def set_contact_name(
    conn: AsyncConnection, conversation_id: str, name: str, now: datetime
) -> None:
    params = {"conversation_id": conversation_id, "name": name, "now": now}
    await conn.execute(_SET_CONTACT_NAME, params)


async def inbound_workflow_settings(
    conn: AsyncConnection, project_id: str, phone_number_id: str | None
) -> sa.RowMapping | None:
    """The number's active inbound_message workflow: `id`, `message_debounce_seconds`,
    `inbound_message_read_mode`."""
    params = {"project_id": project_id, "phone_number_id": phone_number_id}
    row: sa.RowMapping | None = (await conn.execute(_INBOUND_WORKFLOW, params)).mappings().first()
    return row


async def project_event_triggers(conn: AsyncConnection, project_id: str) -> list[sa.RowMapping]:
    """All active whatsapp_event triggers of the project (id, workflow_id, event,
    phone_number_id): one read serves every event of a transaction."""
    return list(
        (await conn.execute(_PROJECT_EVENT_TRIGGERS, {"project_id": project_id})).mappings()
    )


async def latest_inbound_wamid(conn: AsyncConnection, conversation_id: str) -> str | None:
    result = await conn.execute(_LATEST_INBOUND, {"conversation_id": conversation_id})
    value = result.scalar()
    return str(value) if value else None
