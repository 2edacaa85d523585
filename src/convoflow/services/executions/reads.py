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
from convoflow.services.common import Actor, in_project
from convoflow.services.executions.commands import ExecutionInfo, describe, graph_of
from convoflow.services.process import Process
from convoflow.store import execution_queries as queries
from convoflow.store import whatsapp_queries as inbox_queries
from convoflow.store import workflows as workflow_store
from convoflow.store.listing import KeysetPage, KeysetQuery, Position, keyset_page_of


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


async def get_detail(engine: Process, actor: Actor, execution_id: str) -> ExecutionDetail:
    async with engine.db.read() as conn:
        info = await info_on(conn, engine, actor, execution_id)
        events = await queries.timeline(conn, execution_id)
        resumable = await resumable_id(conn, info.row)
    return ExecutionDetail(info, events, resumable)


async def get_info(engine: Process, actor: Actor, execution_id: str) -> ExecutionInfo:
    async with engine.db.read() as conn:
        return await info_on(conn, engine, actor, execution_id)


async def info_on(
    conn: AsyncConnection, engine: Process, actor: Actor, execution_id: str
) -> ExecutionInfo:
    """What describe() gives for one execution, with the workflow read in the same query."""
    row, workflow = await in_project(
        conn, queries.get_execution_with_workflow, "execution", execution_id, actor
    )
    graph = await graph_of(conn, engine.runtime, str(row["version_id"]))
    return ExecutionInfo(row, workflow, graph)


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
    engine: Process,
    actor: Actor,
    workflow_id: str,
    filters: ExecutionFilters,
    page: PageRequest,
) -> tuple[KeysetPage, list[ExecutionInfo]]:
    """A page of the workflow's executions; rows hold the summary columns only
    (queries.SUMMARY_COLUMNS: what api.views.execution_summary shows)."""
    async with engine.db.read() as conn:
        workflow = await in_project(
            conn, workflow_store.get_workflow, "workflow", workflow_id, actor
        )
        query, params = queries.execution_pages(
            workflow_id=workflow_id,
            conversation_id=filters.whatsapp_conversation_id,
            status=filters.status,
            waiting_reason=filters.waiting_reason,
            created_after=filters.created_after,
            created_before=filters.created_before,
        )
        return await _page_of_executions(conn, engine, query, params, page, {workflow_id: workflow})


async def list_for_conversation(
    engine: Process, actor: Actor, conversation_id: str, status: str | None, page: PageRequest
) -> tuple[KeysetPage, list[ExecutionInfo]]:
    async with engine.db.read() as conn:
        await in_project(
            conn, inbox_queries.get_conversation, "conversation", conversation_id, actor
        )
        query, params = queries.execution_pages(conversation_id=conversation_id, status=status)
        return await _page_of_executions(conn, engine, query, params, page)


async def _page_of_executions(
    conn: AsyncConnection,
    engine: Process,
    query: KeysetQuery,
    params: dict[str, Any],
    page: PageRequest,
    known_workflows: Mapping[str, Mapping[Any, Any]] | None = None,
) -> tuple[KeysetPage, list[ExecutionInfo]]:
    result = await keyset_page_of(
        conn, query, params, limit=page.limit, after=page.after, before=page.before
    )
    return result, await describe(conn, engine.runtime, result.rows, known_workflows)


async def list_events(
    engine: Process, actor: Actor, execution_id: str, event_type: str | None, page: PageRequest
) -> tuple[KeysetPage, str, CompiledGraph | None]:
    """A page of the execution's events, newest first, with the graph for step refs."""
    async with engine.db.read() as conn:
        row = await in_project(conn, queries.get_execution, "execution", execution_id, actor)
        query, params = queries.event_pages(execution_id, event_type=event_type)
        result = await keyset_page_of(
            conn,
            query,
            params,
            limit=page.limit,
            after=page.after,
            before=page.before,
        )
        version_id = str(row["version_id"])
        return result, version_id, await graph_of(conn, engine.runtime, version_id)


async def get_event(
    engine: Process, actor: Actor, event_id: str
) -> tuple[sa.RowMapping, str, CompiledGraph | None]:
    async with engine.db.read() as conn:
        row = await in_project(conn, queries.get_event, "event", event_id, actor)
        version_id = str(row["execution_version_id"])
        return row, version_id, await graph_of(conn, engine.runtime, version_id)


async def list_numbered_page(
    engine: Process,
    actor: Actor,
    workflow_id: str,
    filters: ExecutionFilters,
    page: int,
    per_page: int,
) -> list[ExecutionInfo]:
    """The older flows API pages by number (OFFSET); fine for its small pages."""
    async with engine.db.read() as conn:
        await in_project(conn, workflow_store.get_workflow, "flow", workflow_id, actor)
        rows = await queries.numbered_page(
            conn,
            page=page,
            per_page=per_page,
            workflow_id=workflow_id,
            status=filters.status,
            created_after=filters.created_after,
            created_before=filters.created_before,
        )
        return await describe(conn, engine.runtime, rows)
