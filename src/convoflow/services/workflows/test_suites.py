"""A workflow's stored conversation test suite (our extension, docs/testing-flows.md):
read it, replace it, and hand a run what it needs (the YAML and the workflow's current
definition). The YAML is checked by the caller (testing/stored.py, which knows the suite
format) before it is saved here; every read and write is scoped to the caller's project."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from convoflow.engine.advance import Advance
from convoflow.services.common import Actor, in_project
from convoflow.services.process import Process
from convoflow.store import test_suites as suite_store
from convoflow.store import workflow_queries as queries
from convoflow.store import workflows as workflow_store


@dataclass(frozen=True)
class StoredSuite:
    workflow: sa.RowMapping
    yaml: str  # "" when the workflow has none yet
    updated_at: datetime | None
    definition: Any = None  # the workflow's current definition, for a run


async def get(
    engine: Process, actor: Actor, workflow_id: str, *, with_definition: bool = False
) -> StoredSuite:
    async with engine.db.read() as conn:
        workflow = await in_project(
            conn, workflow_store.get_workflow, "workflow", workflow_id, actor
        )
        row = await suite_store.get_suite(conn, workflow_id)
        definition = await queries.current_definition(conn, workflow) if with_definition else None
    return StoredSuite(
        workflow=workflow,
        yaml=str(row["yaml"]) if row is not None else "",
        updated_at=row["updated_at"] if row is not None else None,
        definition=definition,
    )


async def workflow_of(engine: Process, actor: Actor, workflow_id: str) -> sa.RowMapping:
    """The workflow (NotFound when it is not the caller's): checked before the YAML is."""
    async with engine.db.read() as conn:
        row: sa.RowMapping = await in_project(
            conn, workflow_store.get_workflow, "workflow", workflow_id, actor
        )
    return row


async def put(engine: Process, actor: Actor, workflow_id: str, yaml: str) -> StoredSuite:
    async def run(adv: Advance) -> StoredSuite:
        # The row lock orders concurrent saves of one workflow's suite (put_suite's upsert).
        workflow = await in_project(
            adv.conn, workflow_store.lock_workflow, "workflow", workflow_id, actor
        )
        await suite_store.put_suite(
            adv.conn, workflow_id=workflow_id, project_id=actor.project_id, yaml=yaml, now=adv.now
        )
        return StoredSuite(workflow=workflow, yaml=yaml, updated_at=adv.now)

    return await engine.runtime.op(run)
