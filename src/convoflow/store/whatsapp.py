"""SQL for the WhatsApp webhook: raw receipts (delivery statuses: store/receipts.py), the
conversation of a (number, user) pair, and the workflow settings an inbound message needs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store import dialects
from convoflow.store.executions import ACTIVE_ROOTS
from convoflow.store.schema import (
    conversations,
    executions,
    messages,
    phone_numbers,
    triggers,
    whatsapp_webhook_receipts,
    workflows,
)

# Built once, with bind parameters: these run for every webhook, and building a
# statement (plus its cache key) costs more than running it on SQLite.
_INSERT_RECEIPT = sa.insert(whatsapp_webhook_receipts)
_MESSAGE_BY_WAMID = sa.select(messages).where(
    messages.c.project_id == sa.bindparam("project_id"),
    messages.c.provider_message_id == sa.bindparam("wamid"),
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


async def message_by_wamid(
    conn: AsyncConnection, project_id: str, wamid: str
) -> sa.RowMapping | None:
    """The project's message with this wamid (another project's is never returned)."""
    result = await conn.execute(_MESSAGE_BY_WAMID, {"project_id": project_id, "wamid": wamid})
    row: sa.RowMapping | None = result.mappings().first()
    return row


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
