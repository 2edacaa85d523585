"""SQL for the API's live streams (server-sent events): what changed since a position.

An execution's events are read by `seq` (gap-free, allocated under the execution's lock,
so "after seq N" misses nothing). Messages and conversations have no such counter: they
are read by `updated_at` from a position a little before the last one sent (the caller
keeps the margin and drops what it already sent), because two transactions can commit in
the other order than their clocks read.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import conversations, execution_events, executions, messages

# At most this many rows per read; a stream that gets a full batch reads again at once.
BATCH = 200

_EVENTS_AFTER = (
    sa.select(execution_events)
    .where(execution_events.c.execution_id == sa.bindparam("execution_id"))
    .where(execution_events.c.seq > sa.bindparam("seq", type_=sa.Integer))
    .order_by(execution_events.c.seq)
    .limit(BATCH)
)
_EXECUTION_VERSION = sa.select(executions.c.version).where(
    executions.c.id == sa.bindparam("execution_id")
)
_MESSAGES_SINCE = (
    sa.select(messages)
    .where(messages.c.conversation_id == sa.bindparam("conversation_id"))
    .where(messages.c.updated_at >= sa.bindparam("since", type_=messages.c.updated_at.type))
    .order_by(messages.c.updated_at, messages.c.id)
    .limit(BATCH)
)
# By the (project_id, created_at, id) index: a conversation moves in the inbox when a
# message is added to it.
_CONVERSATIONS_WITH_NEW_MESSAGES = (
    sa.select(messages.c.conversation_id, sa.func.max(messages.c.created_at).label("at"))
    .where(messages.c.project_id == sa.bindparam("project_id"))
    .where(messages.c.created_at >= sa.bindparam("since", type_=messages.c.created_at.type))
    .group_by(messages.c.conversation_id)
    .order_by(sa.func.max(messages.c.created_at))
    .limit(BATCH)
)
_LATEST_ROOT_OF = (
    sa.select(executions.c.id, executions.c.version)
    .where(executions.c.conversation_id == sa.bindparam("conversation_id"))
    .where(executions.c.parent_execution_id.is_(None))
    .order_by(executions.c.created_at.desc(), executions.c.id.desc())
    .limit(1)
)
_CONVERSATIONS_BY_ID = sa.select(conversations).where(
    conversations.c.id.in_(sa.bindparam("ids", expanding=True))
)


async def events_after(conn: AsyncConnection, execution_id: str, seq: int) -> list[sa.RowMapping]:
    """The execution's events with a `seq` above `seq`, oldest first (at most BATCH)."""
    result = await conn.execute(_EVENTS_AFTER, {"execution_id": execution_id, "seq": seq})
    return list(result.mappings().all())


async def execution_version(conn: AsyncConnection, execution_id: str) -> int | None:
    """The execution's compare-and-set counter: it moves with every write of the row."""
    result = await conn.execute(_EXECUTION_VERSION, {"execution_id": execution_id})
    version: int | None = result.scalar()
    return version


async def messages_since(
    conn: AsyncConnection, conversation_id: str, since: datetime
) -> list[sa.RowMapping]:
    """The conversation's messages written or changed at `since` or later, in that order."""
    result = await conn.execute(
        _MESSAGES_SINCE, {"conversation_id": conversation_id, "since": since}
    )
    return list(result.mappings().all())


async def conversations_with_messages_since(
    conn: AsyncConnection, project_id: str, since: datetime
) -> list[tuple[str, datetime]]:
    """(conversation id, its newest message's time) for the project's conversations that
    got a message at `since` or later, least recent first."""
    result = await conn.execute(
        _CONVERSATIONS_WITH_NEW_MESSAGES, {"project_id": project_id, "since": since}
    )
    return [(str(row.conversation_id), row.at) for row in result]


async def conversations_by_id(conn: AsyncConnection, ids: list[str]) -> list[sa.RowMapping]:
    if not ids:
        return []
    result = await conn.execute(_CONVERSATIONS_BY_ID, {"ids": ids})
    return list(result.mappings().all())


async def latest_root_version(
    conn: AsyncConnection, conversation_id: str
) -> tuple[str, int] | None:
    """(id, version) of the conversation's newest root execution."""
    row = (await conn.execute(_LATEST_ROOT_OF, {"conversation_id": conversation_id})).first()
    return None if row is None else (str(row.id), int(row.version))
