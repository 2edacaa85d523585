"""Workflows through the API: create, list, read, update (optimistic locking, definition
replace semantics, activation, archiving) and variable discovery."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from convoflow.engine import status as st
from convoflow.engine.advance import Advance
from convoflow.engine.graphs import Entry, report_of
from convoflow.graph.problems import ValidationReport
from convoflow.graph.validation import validate_definition
from convoflow.services.common import (
    UNSET,
    Actor,
    Conflict,
    FieldProblem,
    Patch,
    in_project,
    invalid,
    read_in_project,
)
from convoflow.services.process import Process
from convoflow.services.whatsapp.number_ownership import definition_number_problems
from convoflow.services.workflows import definitions, variables
from convoflow.services.workflows.versions import add_version, create_workflow, slugify
from convoflow.store import triggers as trigger_store
from convoflow.store import workflow_queries as queries
from convoflow.store import workflows as workflow_store
from convoflow.store.db import JsonText


@dataclass
class WorkflowChanges(Patch):
    """The fields of a PATCH; UNSET = not sent."""

    name: Any = UNSET
    slug: Any = UNSET
    description: Any = UNSET
    status: Any = UNSET
    message_debounce_seconds: Any = UNSET
    inbound_message_read_mode: Any = UNSET
    definition: Any = UNSET


async def list_workflows(
    engine: Process,
    actor: Actor,
    *,
    status: str | None = None,
    name_contains: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> list[sa.RowMapping]:
    async with engine.db.read() as conn:
        return await queries.list_workflows(
            conn,
            actor.project_id,
            status=status,
            name_contains=name_contains,
            created_after=created_after,
            created_before=created_before,
        )


async def get_workflow(engine: Process, actor: Actor, workflow_id: str) -> sa.RowMapping:
    return await read_in_project(
        engine.db, workflow_store.get_workflow, "workflow", workflow_id, actor
    )


async def get_with_definition(
    engine: Process, actor: Actor, workflow_id: str
) -> tuple[sa.RowMapping, dict[str, Any]]:
    async with engine.db.read() as conn:
        row = await in_project(conn, workflow_store.get_workflow, "workflow", workflow_id, actor)
        definition = await queries.current_definition(conn, row)
    return row, definition or dict(definitions.EMPTY_DEFINITION)


# A workflow with no definition yet: what GET .../definition shows (empty) and why it
# cannot be activated.
NO_DEFINITION = validate_definition(definitions.EMPTY_DEFINITION)


async def validations(
    engine: Process, rows: Sequence[Mapping[Any, Any]]
) -> dict[str, ValidationReport]:
    """The problems of each workflow's current definition, by workflow id: every read of
    a workflow carries them (a draft may hold a graph with problems)."""
    version_ids = {str(r["current_version_id"]) for r in rows if r["current_version_id"]}
    by_version: dict[str, ValidationReport] = {}
    if version_ids:
        async with engine.db.read() as conn:
            by_version = await engine.runtime.graphs.reports(conn, version_ids)
    return {
        str(row["id"]): by_version.get(str(row["current_version_id"]), NO_DEFINITION)
        for row in rows
    }


async def validation(engine: Process, row: Mapping[Any, Any]) -> ValidationReport:
    return (await validations(engine, [row]))[str(row["id"])]


async def workflow_variables(
    engine: Process, actor: Actor, workflow_id: str
) -> variables.WorkflowVariables:
    async with engine.db.read() as conn:
        await in_project(conn, workflow_store.get_workflow, "workflow", workflow_id, actor)
        contexts = await queries.recent_contexts(conn, workflow_id, variables.DISCOVERY_WINDOW)
    return variables.WorkflowVariables(variables.FIXED, variables.discover(contexts))


async def create(
    engine: Process,
    actor: Actor,
    *,
    name: str,
    slug: str | None = None,
    description: str | None = None,
    definition: dict[str, Any] | None = None,
) -> sa.RowMapping:
    stored: dict[str, Any] | JsonText | None = None
    entry: Entry | None = None
    if definition is not None:  # a new workflow is a draft: graph-level problems are kept
        stored, entry = await definitions.prepare_new(
            engine.cpu, definition, engine.runtime.settings.max_nodes
        )

    async def run(adv: Advance) -> sa.RowMapping:
        conn = adv.conn
        await _check_unique(adv, actor, "name", name, None)
        if slug is not None:
            await _check_unique(adv, actor, "slug", slug, None)
        workflow_id = await create_workflow(
            conn,
            engine.clock,
            project_id=actor.project_id,
            name=name,
            slug=slug or await _free_slug(adv, actor, name),
            description=description,
            definition=stored,
        )
        await workflow_store.update_workflow(conn, workflow_id, {"created_by": actor.created_by()})
        row = await workflow_store.get_workflow(conn, workflow_id)
        assert row is not None
        return row

    row = await _unique_violation_is_invalid(engine, run)
    if entry is not None and row["current_version_id"] is not None:
        engine.runtime.graphs.put(str(row["current_version_id"]), entry)
    return row


async def update(
    engine: Process, actor: Actor, workflow_id: str, changes: WorkflowChanges
) -> sa.RowMapping:
    early = await _prepare_early(engine, actor, workflow_id, changes.definition)
    # The new version and its graph-cache entry, to seed the cache once it is committed.
    written: dict[str, Entry] = {}

    async def run(adv: Advance) -> sa.RowMapping:
        written.clear()  # the operation may run again (a retried transaction)
        conn = adv.conn
        row = await in_project(conn, workflow_store.lock_workflow, "workflow", workflow_id, actor)
        current_lock = int(row["lock_version"] or 0)
        if changes.lock_version is not None and changes.lock_version != current_lock:
            raise Conflict(
                f"lock_version {changes.lock_version} is stale: workflow {workflow_id} is at "
                f"lock_version {current_lock}. Fetch it again, reapply your change and retry."
            )
        values = await _metadata_values(adv, actor, row, changes)
        status = row["status"] if changes.status is UNSET else changes.status
        # Sending a status or a definition re-checks what an active workflow must satisfy.
        touches = changes.definition is not UNSET or changes.status is not UNSET
        current = await queries.current_definition(conn, row) if touches else None
        definition, entry = current, None
        if changes.definition is not UNSET:
            definition, entry = await _new_definition(adv, row, current, changes.definition, early)
        if status == "active" and touches:
            await check_activation(adv, row, definition, entry)
        if definition != current:
            version_id = await add_version(conn, adv.runtime.clock, str(row["id"]), definition)
            if entry is not None:
                written[version_id] = entry
        if status != row["status"]:
            if status == "archived":
                await archive_effects(adv, str(row["id"]))
            values["status"] = status
        values["lock_version"] = current_lock + 1
        values["updated_at"] = adv.now
        if not await queries.update_if_lock_version(conn, workflow_id, current_lock, values):
            raise Conflict(f"workflow {workflow_id} was updated concurrently; fetch it and retry")
        updated = await workflow_store.get_workflow(conn, workflow_id)
        assert updated is not None
        return updated

    updated = await _unique_violation_is_invalid(engine, run)
    for version_id, entry in written.items():
        engine.runtime.graphs.put(version_id, entry)
    return updated


async def _metadata_values(
    adv: Advance, actor: Actor, row: sa.RowMapping, changes: WorkflowChanges
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if changes.name is not UNSET and changes.name != row["name"]:
        await _check_unique(adv, actor, "name", changes.name, row["id"])
        values["name"] = changes.name
    if changes.slug is not UNSET and changes.slug != row["slug"]:
        await _check_unique(adv, actor, "slug", changes.slug, row["id"])
        values["slug"] = changes.slug
    values.update(
        changes.sent("description", "message_debounce_seconds", "inbound_message_read_mode")
    )
    return values


@dataclass(frozen=True)
class _Prepared:
    """A PATCH's definition, prepared before its transaction against this version."""

    base_version_id: str | None
    stored: dict[str, Any]
    entry: Entry


def _replaces_definition(update: Any) -> bool:
    return isinstance(update, dict) and ("nodes" in update or "edges" in update)


async def _prepare_early(
    engine: Process, actor: Actor, workflow_id: str, update: Any
) -> _Prepared | None:
    """Prepare (and compile) the new definition outside the write transaction
    (definitions.prepare takes up to a second of CPU for a large one; the transaction
    would hold every other write meanwhile). None when there is nothing to prepare or
    no such workflow (the transaction answers 404)."""
    if not _replaces_definition(update):
        return None
    async with engine.db.read() as conn:
        row = await workflow_store.get_workflow(conn, workflow_id, project_id=actor.project_id)
        if row is None:
            return None
        current = await queries.current_definition(conn, row)
    stored, entry = await definitions.prepare(
        engine.cpu, current, update, engine.runtime.settings.max_nodes
    )
    return _Prepared(row["current_version_id"], stored, entry)


async def _new_definition(
    adv: Advance, row: sa.RowMapping, current: Any, update: Any, early: _Prepared | None
) -> tuple[Any, Entry | None]:
    """The stored form after a PATCH's `definition` (`current` when it sends no nodes or
    edges) and, when it is new, its graph-cache entry. Malformed shapes are refused;
    graph-level problems are not (drafts)."""
    if not _replaces_definition(update):
        return current, None
    if early is not None and early.base_version_id == row["current_version_id"]:
        return early.stored, early.entry
    # Another PATCH changed the definition since it was prepared: merge with that one.
    return await definitions.prepare(
        adv.runtime.cpu, current, update, adv.runtime.settings.max_nodes
    )


async def check_activation(
    adv: Advance, row: sa.RowMapping, definition: Any, entry: Entry | None = None
) -> None:
    """Everything a workflow must satisfy to be active, checked when it becomes active
    and whenever an active workflow's definition changes: the one place for such rules.
    `entry` is the graph-cache entry of a `definition` just prepared; without one,
    `definition` is the current version's, and the graph cache gives (and keeps) its
    entry, so the first run does not compile it again. Raises Invalid listing every
    problem."""
    if definition is None:
        raise invalid(
            [
                FieldProblem(
                    "status",
                    "a workflow needs a definition before it can be active; send "
                    "workflow.definition with at least a start node",
                    "missing_definition",
                )
            ]
        )
    if entry is None:  # compiled off the event loop (engine/cpu.py), then cached
        entry = await adv.runtime.graphs.entry(adv.conn, str(row["current_version_id"]))
    report = report_of(entry)
    what = "an active workflow's definition must be valid"
    if row["status"] != "active":
        what = f"workflow {row['id']} cannot be activated"
    # One answer lists every problem: the graph's and the numbers of other projects.
    foreign = await definition_number_problems(adv.conn, str(row["project_id"]), definition)
    definitions.require_valid(report, what, foreign)


async def archive_effects(
    adv: Advance, workflow_id: str, reason: str = "workflow_archived"
) -> None:
    """DECISIONS.md: archiving ends running, waiting and handed-off executions (event
    reason `workflow_archived`; `workflow_deleted` when deleted) and stops the workflow's
    triggers."""
    for execution_id in await queries.active_execution_ids(adv.conn, workflow_id):
        state = await adv.load(execution_id)
        if state.status not in st.TERMINAL:
            await adv.end_execution(state, reason=reason)
    await trigger_store.deactivate_all(adv.conn, workflow_id, adv.now)


async def _check_unique(
    adv: Advance, actor: Actor, column: str, value: str, exclude_id: Any
) -> None:
    other = await queries.find_by_column(
        adv.conn, actor.project_id, column, value, exclude_id=exclude_id
    )
    if other is not None:
        raise invalid(
            [
                FieldProblem(
                    column,
                    f"{value!r} is already used by workflow {other}; {column} must be unique "
                    "within the project",
                    "taken",
                )
            ]
        )


async def _free_slug(adv: Advance, actor: Actor, name: str) -> str:
    base = slugify(name)[:180].strip("-") or "workflow"
    taken = await queries.slugs_like(adv.conn, actor.project_id, base)
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


async def _unique_violation_is_invalid(engine: Process, run: Any) -> sa.RowMapping:
    """Two concurrent requests can pass the uniqueness checks; the constraint decides."""
    try:
        result: sa.RowMapping = await engine.runtime.op(run)
    except IntegrityError as exc:
        raise invalid(
            [FieldProblem("name", "name or slug is already used by another workflow", "taken")]
        ) from exc
    return result
