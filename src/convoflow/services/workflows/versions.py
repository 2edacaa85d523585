"""Creating workflows and changing their definitions (a new immutable version each time)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.clock import Clock
from convoflow.graph.validation import ValidationReport, validate_definition
from convoflow.ids import new_id
from convoflow.store import workflows as workflow_store


class InvalidWorkflowDefinition(Exception):
    def __init__(self, report: ValidationReport) -> None:
        count = len(report.errors)
        super().__init__(f"definition has {count} error{'s' if count != 1 else ''}")
        self.report = report


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "workflow"


async def add_version(
    conn: AsyncConnection, clock: Clock, workflow_id: str, definition: Any
) -> str:
    """Store a new definition version as given; make it the workflow's current one.

    Validation is the caller's policy: a draft may hold a graph with problems, an active
    workflow may not (services/workflows/lifecycle.py)."""
    number = await workflow_store.latest_version_number(conn, workflow_id) + 1
    version_id = new_id()
    await workflow_store.insert_version(
        conn,
        {
            "id": version_id,
            "workflow_id": workflow_id,
            "number": number,
            "definition": definition,
            "created_at": clock.now(),
        },
    )
    await workflow_store.update_workflow(conn, workflow_id, {"current_version_id": version_id})
    return version_id


async def create_workflow(
    conn: AsyncConnection,
    clock: Clock,
    *,
    project_id: str,
    name: str,
    definition: Any = None,
    description: str | None = None,
    status: str = "draft",
    slug: str | None = None,
    workflow_id: str | None = None,
) -> str:
    """A new workflow (and its first version); `workflow_id` only where the caller owns
    the whole database (a test run's throwaway one, whose suites name ids)."""
    if status == "active" and definition is not None:
        report = validate_definition(definition)
        if not report.valid:
            raise InvalidWorkflowDefinition(report)
    now = clock.now()
    workflow_id = workflow_id or new_id()
    await workflow_store.insert_workflow(
        conn,
        {
            "id": workflow_id,
            "project_id": project_id,
            "name": name,
            "slug": slug or slugify(name),
            "description": description,
            "status": status,
            "lock_version": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    if definition is not None:
        await add_version(conn, clock, workflow_id, definition)
    return workflow_id
