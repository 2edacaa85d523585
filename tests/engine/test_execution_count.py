"""A workflow's execution_count and last_executed_at: exact under concurrent starts, and
counted without a lock every start of the workflow shares (the workflows row was one)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from convoflow.clock import FakeClock
from convoflow.config import Settings
from convoflow.process import Process, build_process
from convoflow.store import workflows as workflow_store
from convoflow.store.schema import executions, workflow_execution_counts, workflows
from tests.support import example, make_project, make_workflow, table_rows


async def _start_many(engine: Process, project_id: str, workflow_id: str, n: int) -> None:
    for _ in range(n):
        await engine.runtime.start_execution(
            project_id=project_id, workflow_id=workflow_id, trigger_type="api"
        )


async def test_concurrent_starts_from_two_processes_count_exactly(
    engine: Process, db_url: str, settings: Settings
) -> None:
    project_id = await make_project(engine)
    workflow_id = await make_workflow(engine, project_id, example("canonical"))
    other = build_process(db_url, clock=FakeClock(), settings=settings, pool_size=5)
    try:
        # Four streams of starts at once, two per process (each its own connections).
        await asyncio.gather(
            *(_start_many(p, project_id, workflow_id, 8) for p in (engine, other, engine, other))
        )
    finally:
        await other.close()
    async with engine.db.read() as conn:
        row = await workflow_store.get_workflow(conn, workflow_id, project_id)
    assert row is not None
    started = await table_rows(engine, executions, workflow_id=workflow_id)
    assert row["execution_count"] == len(started) == 32
    assert row["last_executed_at"] == max(e["created_at"] for e in started)
    # On counter rows (as many as starts overlapped on PostgreSQL), not the workflows row.
    counted = await table_rows(engine, workflow_execution_counts, workflow_id=workflow_id)
    assert sum(r["count"] for r in counted) == 32


async def test_a_new_workflow_has_counted_nothing(engine: Process) -> None:
    project_id = await make_project(engine)
    workflow_id = await make_workflow(engine, project_id, example("canonical"))
    async with engine.db.read() as conn:
        row = await workflow_store.get_workflow(conn, workflow_id, project_id)
    assert row is not None
    assert (row["execution_count"], row["last_executed_at"]) == (0, None)


def _ids(same_shard: bool) -> tuple[str, str]:
    """Two execution ids whose counter row by id is the same one, or not."""
    first = "exec-0"
    shard = workflow_store._count_shard(first)
    second = next(
        f"exec-{i}"
        for i in range(1, 1000)
        if (workflow_store._count_shard(f"exec-{i}") == shard) == same_shard
    )
    return first, second


async def _write_while_another_is_open(engine: Process, first: Any, second: Any) -> None:
    """Run `first` in a transaction left open while `second` runs in another, which may
    not wait for a lock (lock_timeout: an uncontended lock never reaches it)."""
    async with engine.db.engine.connect() as holder, holder.begin():
        await first(holder)
        async with engine.db.engine.connect() as conn, conn.begin():
            await conn.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
            await second(conn)


async def test_a_start_does_not_wait_for_another_start_of_the_workflow(
    engine: Process, backend: str
) -> None:
    """PostgreSQL: while one start's transaction is open, another start of the same
    workflow counts itself without waiting (it used to queue on the workflows row)."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer: every write waits for the open one")
    project_id = await make_project(engine)
    workflow_id = await make_workflow(engine, project_id, example("canonical"))
    now = engine.clock.now()
    # No counter row yet: each start makes the one its id picks. Then both rows exist and
    # ids that pick the same row do not wait: the second start takes the row not held.
    for same_shard in (False, True):
        first, second = _ids(same_shard)
        await _write_while_another_is_open(
            engine,
            lambda conn, e=first: workflow_store.count_execution(conn, workflow_id, e, now),
            lambda conn, e=second: workflow_store.count_execution(conn, workflow_id, e, now),
        )
    async with engine.db.read() as conn:
        row = await workflow_store.get_workflow(conn, workflow_id, project_id)
    assert row is not None and row["execution_count"] == 4

    # The probe does see a shared row lock: the old single-row increment waits.
    bump = sa.update(workflows).where(workflows.c.id == workflow_id).values(updated_at=now)
    with pytest.raises(DBAPIError, match="lock timeout"):
        await _write_while_another_is_open(
            engine, lambda conn: conn.execute(bump), lambda conn: conn.execute(bump)
        )
