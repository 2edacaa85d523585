"""Writes held until the commit (store/appends.py) and the timer delete folded into the
compare-and-set update: fewer round trips per resume on PostgreSQL, nothing lost,
leaked or committed for an operation that failed. Both databases (SQLite writes at once,
so the outcomes must be the same)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.engine.committer import AfterCommit, GroupCommitter
from convoflow.engine.signals import UserInput
from convoflow.ids import new_id
from convoflow.store import executions as execution_store
from convoflow.store.schema import jobs
from tests.support import events, example, make_project, make_workflow, table_rows


async def _waiting(engine: Any, count: int) -> tuple[str, list[str]]:
    """`count` executions of the canonical flow, each waiting (with a timeout timer)."""
    project_id = await make_project(engine)
    workflow_id = await make_workflow(engine, project_id, example("canonical"))
    ids = []
    for _ in range(count):
        state = await engine.runtime.start_execution(
            project_id=project_id,
            workflow_id=workflow_id,
            trigger_type="api_call",
            context={"channel": "sandbox"},
        )
        ids.append(state.id)
    return workflow_id, ids


def _event(execution_id: str, seq: int) -> dict[str, Any]:
    return {
        "id": new_id(),
        "execution_id": execution_id,
        "seq": seq,
        "event_type": "held_test",
        "node_id": None,
        "direction": None,
        "edge_label": None,
        "payload": {"seq": seq},
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


async def test_concurrent_resumes_store_everything_in_fewer_statements(engine, backend):
    _, ids = await _waiting(engine, 20)
    assert len(await table_rows(engine, jobs, kind="timer")) == 20

    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    sa_event.listen(engine.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await asyncio.gather(
            *(engine.runtime.resume(i, UserInput(value="42", source="test")) for i in ids)
        )
    finally:
        sa_event.remove(engine.db.engine.sync_engine, "before_cursor_execute", count)

    for execution_id in ids:
        types = [e["event_type"] for e in await events(engine, execution_id)]
        assert types[-1] == "execution_ended"
        assert types.count("execution_started") == 1
    assert await table_rows(engine, jobs, kind="timer") == []
    if backend == "postgresql":
        # Per resume: lock the row, update it (timers deleted in its WITH clause), insert
        # its outbox row; per batch: the held events, one NOTIFY. It was 5 per resume.
        assert statements[0] < 4 * len(ids), statements[0]


async def test_held_rows_of_a_rolled_back_transaction_are_dropped(engine):
    _, [execution_id] = await _waiting(engine, 1)
    with pytest.raises(RuntimeError):
        async with engine.db.write() as conn:
            await execution_store.insert_events(conn, [_event(execution_id, 1000)])
            raise RuntimeError("rolled back")
    # Every pooled connection's next transactions: none may insert the dropped rows.
    for _ in range(2 * engine.db.pool_size):
        async with engine.db.write() as conn:
            await conn.execute(sa.text("SELECT 1"))
    assert [e for e in await events(engine, execution_id) if e["seq"] == 1000] == []


async def test_recent_events_include_the_ones_held(engine):
    _, [execution_id] = await _waiting(engine, 1)
    async with engine.db.write() as conn:
        await execution_store.insert_events(conn, [_event(execution_id, 1000)])
        recent = await execution_store.recent_events(conn, execution_id, 1)
    assert [row.event_type for row in recent] == ["held_test"]


async def test_an_operation_that_fails_after_holding_rows_commits_none_of_them(engine):
    _, [execution_id] = await _waiting(engine, 1)
    # One lane, so both operations share one batch (and one transaction).
    committer = GroupCommitter(engine.db, lanes=1)

    async def fails(conn: AsyncConnection, _hooks: list[AfterCommit]) -> None:
        await execution_store.insert_events(conn, [_event(execution_id, 1000)])
        raise ValueError("after holding a row")

    async def succeeds(conn: AsyncConnection, _hooks: list[AfterCommit]) -> None:
        await execution_store.insert_events(conn, [_event(execution_id, 1001)])

    try:
        results = await asyncio.gather(
            committer.run(fails), committer.run(succeeds), return_exceptions=True
        )
    finally:
        await committer.close()
    assert isinstance(results[0], ValueError) and results[1] is None
    seqs = {e["seq"] for e in await events(engine, execution_id)}
    assert 1001 in seqs and 1000 not in seqs
