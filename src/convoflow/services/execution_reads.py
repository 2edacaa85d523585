"""Reading executions and their events: detail, keyset-paged lists, single events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.engine import status as st
from convoflow.graph.compiled import CompiledGraph
from convoflow.services.common import Actor, not_found
from convoflow.services.container import Engine
from convoflow.services.execution_api import ExecutionInfo, describe, graph_of
from convoflow.store import execution_queries as queries
from convoflow.store import workflows as workflow_store
from convoflow.store.listing import KeysetPage, Position, keyset_page
from convoflow.store.schema import execution_events, executions


@dataclass(frozen=True)
class PageRequest:
    limit: int = 20
    after: Position | None = None
    before: Position | None = None


@dataclass(frozen=True)
class ExecutionFilters:
    status: str | None = None
    waiting_reason: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    whatsapp_conversation_id: str | None = None


@dataclass(frozen=True)
class ExecutionDetail:
    info: ExecutionInfo
    events: list[sa.RowMapping]
    resumable_execution_id: str | None


async def get_detail(engine: Engine, actor: Actor, execution_id: str) -> ExecutionDetail:
    async with engine.db.read() as conn:
        row = await queries.get_execution(conn, execution_id, actor.project_id)
        if row is None:
            raise not_found("execution", execution_id)
        [info] = await describe(conn, engine.runtime, [row])
        events = await queries.timeline(conn, execution_id)
        resumable = await resumable_id(conn, row)
    return ExecutionDetail(info, events, resumable)


async def get_info(engine: Engine, actor: Actor, execution_id: str) -> ExecutionInfo:
    async with engine.db.read() as conn:
        row = await queries.get_execution(conn, execution_id, actor.project_id)
        if row is None:
            raise not_found("execution", execution_id)
        [info] = await describe(conn, engine.runtime, [row])
    return info


async def resumable_id(conn: AsyncConnection, row: Mapping[Any, Any]) -> str | None:
    """What a resume would reach, read-only (None when nothing waits for input)."""
    seen = {str(row["id"])}
    while (row["cursor"] or {}).get("phase") == "await_child":
        child_id = str(row["cursor"]["child_id"])
        if child_id in seen:
            break
        children = await queries.get_executions(conn, [child_id])
        if not children:
            return None
        seen.add(child_id)
        row = children[0]
    waiting = row["status"] == st.WAITING
    if waiting and (row["cursor"] or {}).get("phase") in ("await_input", "manual"):
        return str(row["id"])
    return None


async def list_for_workflow(
    engine: Engine,
    actor: Actor,
    workflow_id: str,
    filters: ExecutionFilters,
    page: PageRequest,
) -> tuple[KeysetPage, list[ExecutionInfo]]:
    async with engine.db.read() as conn:
        if (
            await workflow_store.get_workflow(conn, workflow_id, project_id=actor.project_id)
            is None
        ):
            raise not_found("workflow", workflow_id)
        stmt = queries.executions_select(
            workflow_id=workflow_id,
            conversation_id=filters.whatsapp_conversation_id,
            status=filters.status,
            waiting_reason=filters.waiting_reason,
            created_after=filters.created_after,
            created_before=filters.created_before,
        )
        return await _page_of_executions(conn, engine, stmt, page)


async def list_for_conversation(
    engine: Engine, actor: Actor, conversation_id: str, status: str | None, page: PageRequest
) -> tuple[KeysetPage, list[ExecutionInfo]]:
    async with engine.db.read() as conn:
        if await queries.get_conversation(conn, conversation_id, actor.project_id) is None:
            raise not_found("conversation", conversation_id)
        stmt = queries.executions_select(conversation_id=conversation_id, status=status)
        return await _page_of_executions(conn, engine, stmt, page)


async def _page_of_executions(
    conn: AsyncConnection, engine: Engine, stmt: sa.Select[Any], page: PageRequest
) -> tuple[KeysetPage, list[ExecutionInfo]]:
    result = await keyset_page(
        conn, stmt, executions, limit=page.limit, after=page.after, before=page.before
    )
    return result, await describe(conn, engine.runtime, result.rows)


async def list_events(
    engine: Engine, actor: Actor, execution_id: str, event_type: str | None, page: PageRequest
) -> tuple[KeysetPage, str, CompiledGraph | None]:
    """A page of the execution's events, newest first, with the graph for step refs."""
    async with engine.db.read() as conn:
        row = await queries.get_execution(conn, execution_id, actor.project_id)
        if row is None:
            raise not_found("execution", execution_id)
        result = await keyset_page(
            conn,
            queries.events_select(execution_id, event_type=event_type),
            execution_events,
            limit=page.limit,
            after=page.after,
            before=page.before,
        )
        version_id = str(row["version_id"])
        return result, version_id, await graph_of(conn, engine.runtime, version_id)


async def get_event(
    engine: Engine, actor: Actor, event_id: str
) -> tuple[sa.RowMapping, str, CompiledGraph | None]:
    async with engine.db.read() as conn:
        row = await queries.get_event(conn, event_id, actor.project_id)
        if row is None:
            raise not_found("event", event_id)
        version_id = str(row["execution_version_id"])
        return row, version_id, await graph_of(conn, engine.runtime, version_id)


async def list_numbered_page(
    engine: Engine,
    actor: Actor,
    workflow_id: str,
    filters: ExecutionFilters,
    page: int,
    per_page: int,
) -> list[ExecutionInfo]:
    """The older flows API pages by number (OFFSET); fine for its small pages."""
    async with engine.db.read() as conn:
        if (
            await workflow_store.get_workflow(conn, workflow_id, project_id=actor.project_id)
            is None
        ):
            raise not_found("flow", workflow_id)
        stmt = (
            queries.executions_select(
                workflow_id=workflow_id,
                status=filters.status,
                created_after=filters.created_after,
                created_before=filters.created_before,
            )
            .order_by(executions.c.created_at.desc(), executions.c.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        rows = list((await conn.execute(stmt)).mappings().all())
        return await describe(conn, engine.runtime, rows)
