"""A workflow's version history: every saved definition is an immutable version (the
console's editor lists them, diffs two, and restores one by saving it as the new draft
through the ordinary update, so `lock_version` guards a restore like any save)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from convoflow.graph.problems import ValidationReport
from convoflow.services.common import Actor, in_project, require
from convoflow.services.process import Process
from convoflow.store import workflows as workflow_store


async def list_versions(
    engine: Process, actor: Actor, workflow_id: str, limit: int
) -> tuple[sa.RowMapping, list[sa.RowMapping]]:
    """(the workflow, its versions newest first)."""
    async with engine.db.read() as conn:
        workflow = await in_project(
            conn, workflow_store.get_workflow, "workflow", workflow_id, actor
        )
        rows = await workflow_store.list_versions(conn, workflow_id, limit)
    return workflow, rows


async def get_version(
    engine: Process, actor: Actor, workflow_id: str, version_id: str
) -> tuple[sa.RowMapping, sa.RowMapping, ValidationReport]:
    """(the workflow, the version, its problems: every read of a definition carries
    them, as drafts may hold a graph with problems)."""
    async with engine.db.read() as conn:
        workflow = await in_project(
            conn, workflow_store.get_workflow, "workflow", workflow_id, actor
        )
        row = require(
            await workflow_store.get_version(conn, workflow_id, version_id),
            "workflow version",
            version_id,
        )
    # Checked from the definition just read, once the pooled connection is back.
    report = await engine.runtime.graphs.report_of_read(str(row["id"]), row["definition"])
    return workflow, row, report


def counts(definition: Any) -> tuple[int, int]:
    """(nodes, edges) of a stored definition, whatever its shape (drafts may be odd)."""
    if not isinstance(definition, dict):
        return 0, 0
    nodes, edges = definition.get("nodes"), definition.get("edges")
    return (
        len(nodes) if isinstance(nodes, list) else 0,
        len(edges) if isinstance(edges, list) else 0,
    )
