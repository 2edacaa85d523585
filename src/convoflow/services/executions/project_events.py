"""`project_event` triggers: a stored project event starts observer executions of every
workflow whose active trigger matches its name (and optional property filter)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import RowMapping

from convoflow.clock import utc_iso
from convoflow.engine.advance import Advance
from convoflow.engine.runtime import WorkflowNotRunnable, new_execution
from convoflow.store import jobs as job_store
from convoflow.store import project_events as event_store
from convoflow.store import triggers as trigger_store

if TYPE_CHECKING:
    from convoflow.engine.runtime import Runtime

_COMPARE = {
    "eq": lambda a, b: a == b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


def filter_matches(trigger: RowMapping, properties: dict[str, Any]) -> bool:
    key = trigger["property_key"]
    if not key:
        return True
    if key not in properties:
        return False
    compare = _COMPARE.get(trigger["operator"] or "eq")
    if compare is None:
        return False
    try:
        return bool(compare(properties[key], trigger["property_value"]))
    except TypeError:
        return False


async def start_observers(adv: Advance, event_id: str) -> int:
    event = await event_store.get_project_event(adv.conn, event_id)
    if event is None:
        return 0
    triggers = await trigger_store.project_event_triggers(
        adv.conn, event["project_id"], event["name"]
    )
    started = 0
    event_view = {
        "id": event["id"],
        "name": event["name"],
        "properties": event["properties"],
        "occurred_at": utc_iso(event["occurred_at"]),
        "conversation_id": event["conversation_id"],
    }
    for trigger in triggers:
        if not filter_matches(trigger, event["properties"] or {}):
            continue
        try:
            state = await new_execution(
                adv,
                project_id=event["project_id"],
                workflow_id=trigger["workflow_id"],
                trigger_type="project_event",
                system_extra={"event": event_view},
                context={"channel": "api"},
                conversation_id=event["conversation_id"],
                observer=True,
            )
        except WorkflowNotRunnable:
            continue
        await adv.start(state)
        started += 1
    return started


async def handle_project_event_job(runtime: Runtime, job: RowMapping) -> None:
    event_id = str((job["payload"] or {})["event_id"])

    async def run(adv: Advance) -> None:
        await job_store.delete_jobs(adv.conn, [job["id"]])
        await start_observers(adv, event_id)

    await runtime.op(run)
