"""Deleting a workflow (our extension: Kapso's API has no DELETE for workflows).

A delete hides the workflow rather than removing its rows: executions, their events and
the conversations' messages refer to it and stay readable (an execution's detail still
names its workflow). It frees the name and slug for a new workflow, stops its triggers,
and refuses while executions still run, wait or are handed off, unless `force` ends them
(reason `workflow_deleted`), all in one transaction: killed halfway, nothing changed."""

from __future__ import annotations

from convoflow.engine.advance import Advance
from convoflow.services.common import Actor, Conflict, in_project
from convoflow.services.process import Process
from convoflow.services.workflows.lifecycle import archive_effects
from convoflow.store import workflow_queries as queries
from convoflow.store import workflows as workflow_store


def _freed(value: str, suffix: str) -> str:
    # Unique per project like the live ones (the suffix names the id), within 200 characters.
    return value[: 200 - len(suffix)] + suffix


async def delete(engine: Process, actor: Actor, workflow_id: str, *, force: bool) -> None:
    async def run(adv: Advance) -> None:
        row = await in_project(
            adv.conn, workflow_store.lock_workflow, "workflow", workflow_id, actor
        )
        active = await queries.active_execution_ids(adv.conn, workflow_id)
        if active and not force:
            raise Conflict(
                f"workflow {workflow_id} has {len(active)} execution(s) still running, "
                "waiting or handed off: end them first, or delete with ?force=true to "
                "end them"
            )
        await archive_effects(adv, workflow_id, reason="workflow_deleted")
        await workflow_store.update_workflow(
            adv.conn,
            workflow_id,
            {
                "status": "archived",
                "name": _freed(str(row["name"]), f" (deleted {workflow_id[-12:]})"),
                "slug": _freed(str(row["slug"]), f"-deleted-{workflow_id[-12:]}"),
                "deleted_at": adv.now,
                "updated_at": adv.now,
                "lock_version": int(row["lock_version"] or 0) + 1,
            },
        )

    await engine.runtime.op(run)
