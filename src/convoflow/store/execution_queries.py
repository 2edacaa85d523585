"""SQL the HTTP API needs for executions, their events and conversations (reads, scoped to
a project so another project's ids look exactly like unknown ones).

Statements are built once (with bind parameters): constructing a SQLAlchemy statement and
its cache key per request costs more than running it on SQLite. The filtered lists are
built once per combination of filters that is present (`execution_pages`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.listing import KeysetQuery
from convoflow.store.schema import conversations, execution_events, executions, workflows
from convoflow.store.workflows import WORKFLOW_COLUMNS

# The events returned inline by GET /workflow_executions/{id}; the full timeline is
# paged by GET /workflow_executions/{id}/events.
MAX_INLINE_EVENTS = 1000

_GET_EXECUTION = (
    sa.select(executions)
    .where(executions.c.id == sa.bindparam("execution_id"))
    .where(executions.c.project_id == sa.bindparam("project_id"))
)
# The execution and its workflow in one statement (the workflow's columns prefixed).
_WORKFLOW_PREFIX = "workflow__"
_EXECUTION_COLUMNS = tuple(c.name for c in executions.c)
_WORKFLOW_COLUMNS = tuple((f"{_WORKFLOW_PREFIX}{c.name}", c.name) for c in WORKFLOW_COLUMNS)
_GET_EXECUTION_WITH_WORKFLOW = (
    sa.select(executions, *(c.label(f"{_WORKFLOW_PREFIX}{c.name}") for c in WORKFLOW_COLUMNS))
    .select_from(executions.outerjoin(workflows, workflows.c.id == executions.c.workflow_id))
    .where(executions.c.id == sa.bindparam("execution_id"))
    .where(executions.c.project_id == sa.bindparam("project_id"))
)
_GET_EXECUTIONS = sa.select(executions).where(
    executions.c.id.in_(sa.bindparam("ids", expanding=True))
)
_TIMELINE = (
    sa.select(execution_events)
    .where(execution_events.c.execution_id == sa.bindparam("execution_id"))
    .order_by(execution_events.c.seq.desc())
    .limit(MAX_INLINE_EVENTS)
)
_GET_EVENT = (
    sa.select(execution_events, executions.c.version_id.label("execution_version_id"))
    .join(executions, executions.c.id == execution_events.c.execution_id)
    .where(execution_events.c.id == sa.bindparam("event_id"))
    .where(executions.c.project_id == sa.bindparam("project_id"))
)
_FIND_CONVERSATION = (
    sa.select(conversations)
    .where(conversations.c.project_id == sa.bindparam("project_id"))
    .where(conversations.c.channel == sa.bindparam("channel"))
    .where(conversations.c.wa_id == sa.bindparam("wa_id"))
    .where(conversations.c.status == "active")
)
_NEWEST_CONVERSATION = (conversations.c.created_at.desc(), conversations.c.id.desc())
_FIND_CONVERSATION_NO_NUMBER = (
    _FIND_CONVERSATION.where(conversations.c.phone_number_id.is_(None))
    .order_by(*_NEWEST_CONVERSATION)
    .limit(1)
)
_FIND_CONVERSATION_ON_NUMBER = (
    _FIND_CONVERSATION.where(conversations.c.phone_number_id == sa.bindparam("phone_number_id"))
    .order_by(*_NEWEST_CONVERSATION)
    .limit(1)
)


async def get_execution(
    conn: AsyncConnection, execution_id: str, project_id: str
) -> sa.RowMapping | None:
    result = await conn.execute(
        _GET_EXECUTION, {"execution_id": execution_id, "project_id": project_id}
    )
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def get_execution_with_workflow(
    conn: AsyncConnection, execution_id: str, project_id: str
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """The execution and its workflow's row (None if the workflow is gone), one query."""
    result = await conn.execute(
        _GET_EXECUTION_WITH_WORKFLOW, {"execution_id": execution_id, "project_id": project_id}
    )
    row = result.mappings().first()
    if row is None:
        return None
    execution = {name: row[name] for name in _EXECUTION_COLUMNS}
    if row[f"{_WORKFLOW_PREFIX}id"] is None:
        return execution, None
    return execution, {name: row[label] for label, name in _WORKFLOW_COLUMNS}


async def get_executions(conn: AsyncConnection, execution_ids: list[str]) -> list[sa.RowMapping]:
    if not execution_ids:
        return []
    result = await conn.execute(_GET_EXECUTIONS, {"ids": execution_ids})
    return list(result.mappings().all())


# What the lists show (api.views.execution_summary) and page by: a page selects only
# these, so it does not decode every execution's context.
SUMMARY_COLUMNS = (
    executions.c.id,
    executions.c.workflow_id,
    executions.c.version_id,
    executions.c.status,
    executions.c.current_node_id,
    executions.c.tracking_id,
    executions.c.conversation_id,
    executions.c.started_at,
    executions.c.ended_at,
    executions.c.last_event_at,
    executions.c.created_at,
)

# Filters of the execution lists, in the order they are applied, with the column each
# one tests and how.
_EXECUTION_FILTERS: tuple[tuple[str, sa.Column[Any], str], ...] = (
    ("workflow_id", executions.c.workflow_id, "=="),
    ("conversation_id", executions.c.conversation_id, "=="),
    ("status", executions.c.status, "=="),
    ("waiting_reason", executions.c.waiting_reason, "=="),
    ("created_after", executions.c.created_at, ">="),
    ("created_before", executions.c.created_at, "<="),
)
_SUMMARY_SELECTS: dict[tuple[bool, ...], sa.Select[Any]] = {}
_EXECUTION_PAGES: dict[tuple[bool, ...], KeysetQuery] = {}


def _filter_params(values: dict[str, Any]) -> tuple[tuple[bool, ...], dict[str, Any]]:
    present = tuple(values[name] is not None for name, _, _ in _EXECUTION_FILTERS)
    params = {f"f_{name}": value for name, value in values.items() if value is not None}
    return present, params


def _where(stmt: sa.Select[Any], column: sa.Column[Any], op: str, value: Any) -> sa.Select[Any]:
    if op == "==":
        return stmt.where(column == value)
    if op == ">=":
        return stmt.where(column >= value)
    return stmt.where(column <= value)


def _filtered_select(present: tuple[bool, ...]) -> sa.Select[Any]:
    cached = _SUMMARY_SELECTS.get(present)
    if cached is not None:
        return cached
    stmt: sa.Select[Any] = sa.select(*SUMMARY_COLUMNS)
    for (name, column, op), sent in zip(_EXECUTION_FILTERS, present, strict=True):
        if sent:
            stmt = _where(stmt, column, op, sa.bindparam(f"f_{name}", type_=column.type))
    _SUMMARY_SELECTS[present] = stmt
    return stmt


def execution_pages(
    *,
    workflow_id: str | None = None,
    conversation_id: str | None = None,
    status: str | None = None,
    waiting_reason: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> tuple[KeysetQuery, dict[str, Any]]:
    """Executions filtered as the list endpoints allow, as prebuilt keyset page
    statements (store.listing.keyset_page_of) and the parameters to run them with.
    The rows hold SUMMARY_COLUMNS only."""
    present, params = _filter_params(
        {
            "workflow_id": workflow_id,
            "conversation_id": conversation_id,
            "status": status,
            "waiting_reason": waiting_reason,
            "created_after": created_after,
            "created_before": created_before,
        }
    )
    query = _EXECUTION_PAGES.get(present)
    if query is None:
        query = KeysetQuery.of(_filtered_select(present), executions)
        _EXECUTION_PAGES[present] = query
    return query, params


async def numbered_page(
    conn: AsyncConnection, *, page: int, per_page: int, **filters: Any
) -> list[sa.RowMapping]:
    """Page `page` (from 1) of whole execution rows, newest first, filtered as the list
    endpoints allow (`_EXECUTION_FILTERS` names): the older flows API pages by number."""
    stmt = sa.select(executions)
    for name, column, op in _EXECUTION_FILTERS:
        if filters.get(name) is not None:
            stmt = _where(stmt, column, op, filters[name])
    stmt = (
        stmt.order_by(executions.c.created_at.desc(), executions.c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list((await conn.execute(stmt)).mappings().all())


_EVENTS = sa.select(execution_events).where(
    execution_events.c.execution_id == sa.bindparam("f_execution_id")
)
_EVENT_PAGES = KeysetQuery.of(_EVENTS, execution_events)
_EVENT_PAGES_OF_TYPE = KeysetQuery.of(
    _EVENTS.where(execution_events.c.event_type == sa.bindparam("f_event_type")),
    execution_events,
)


def event_pages(
    execution_id: str, *, event_type: str | None = None
) -> tuple[KeysetQuery, dict[str, Any]]:
    """An execution's events as prebuilt keyset page statements and their parameters."""
    if event_type is None:
        return _EVENT_PAGES, {"f_execution_id": execution_id}
    return _EVENT_PAGES_OF_TYPE, {"f_execution_id": execution_id, "f_event_type": event_type}


async def timeline(conn: AsyncConnection, execution_id: str) -> list[sa.RowMapping]:
    """The execution's latest events, oldest first."""
    result = await conn.execute(_TIMELINE, {"execution_id": execution_id})
    rows = list(result.mappings().all())
    rows.reverse()
    return rows


async def get_event(conn: AsyncConnection, event_id: str, project_id: str) -> sa.RowMapping | None:
    result = await conn.execute(_GET_EVENT, {"event_id": event_id, "project_id": project_id})
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def find_conversation(
    conn: AsyncConnection,
    *,
    project_id: str,
    channel: str,
    phone_number_id: str | None,
    wa_id: str,
) -> sa.RowMapping | None:
    """The newest active conversation of this user on this number and channel."""
    params = {"project_id": project_id, "channel": channel, "wa_id": wa_id}
    if phone_number_id is None:
        result = await conn.execute(_FIND_CONVERSATION_NO_NUMBER, params)
    else:
        params["phone_number_id"] = phone_number_id
        result = await conn.execute(_FIND_CONVERSATION_ON_NUMBER, params)
    row: sa.RowMapping | None = result.mappings().first()
    return row
