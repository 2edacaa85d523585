"""`emit_event`: store a project event; `project_event` triggers start observer runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from convoflow.engine.signals import Fail, Next, Outcome
from convoflow.engine.step import StepRun
from convoflow.ids import new_id
from convoflow.store.project_events import insert_project_event


async def enter(run: StepRun) -> Outcome:
    config = run.config
    properties = await run.render_any(dict(config.properties), "properties")
    occurred_at = run.now
    if config.occurred_at:
        text = (await run.render(config.occurred_at, "occurred_at")).strip()
        if text:
            try:
                occurred_at = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return Fail(
                    f"emit_event {run.node.id!r}: occurred_at {text!r} is not ISO-8601",
                    {"field": "occurred_at"},
                )
    emit_project_event(run, config.event_name, properties, occurred_at)
    return Next()


def emit_project_event(
    run: StepRun, name: str, properties: dict[str, Any], occurred_at: datetime
) -> str:
    """Store a project event in the advancing transaction (the emit_event node and the
    agent's emit_event tool); returns its id."""
    event_id = new_id()
    row: dict[str, Any] = {
        "id": event_id,
        "project_id": run.execution.project_id,
        "name": name,
        "properties": properties,
        "occurred_at": occurred_at,
        "conversation_id": run.execution.conversation_id,
        "source_execution_id": run.execution.id,
        "created_at": run.now,
    }

    async def write(conn: Any) -> None:
        await insert_project_event(conn, row)

    run.advance.extra_writes.append(write)
    # Observer executions start from a job, not inline: an observer that emits the same
    # event cannot recurse inside this transaction.
    run.advance.schedule_job("project_event", run_at=run.now, payload={"event_id": event_id})
    run.emit("action_performed", {"action": "emit_event", "event_name": name, "event_id": event_id})
    return event_id
