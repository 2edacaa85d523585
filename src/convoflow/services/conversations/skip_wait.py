""" "Skip the wait" in a sandbox conversation (our extension, the console's test chat and
`convoflow test --url`): its pending timers (a `wait_for_response` timeout, a `send_text`
delay) fire now, through the worker's own path for a due timer, so what follows is what
would have followed when their time came. The server's clock does not move: only the
chosen timers run early."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import RowMapping

from convoflow.services.common import Actor, Conflict
from convoflow.services.conversations.sandbox_chat import sandbox_conversation
from convoflow.services.process import Process
from convoflow.store import jobs as job_store


@dataclass(frozen=True)
class Timer:
    execution_id: str
    purpose: str
    due_at: datetime

    @classmethod
    def of(cls, row: RowMapping) -> Timer:
        payload: dict[str, Any] = row["payload"] or {}
        return cls(str(row["execution_id"]), str(payload.get("purpose")), row["run_at"])


@dataclass(frozen=True)
class Skipped:
    fired: list[Timer]
    still_pending: list[Timer]


async def pending_timers(engine: Process, actor: Actor, conversation_id: str) -> list[Timer]:
    """The conversation's pending timers, soonest first (what "skip the wait" would fire)."""
    await sandbox_conversation(engine, actor, conversation_id)
    async with engine.db.read() as conn:
        return [Timer.of(row) for row in await job_store.conversation_timers(conn, conversation_id)]


async def skip_wait(
    engine: Process, actor: Actor, conversation_id: str, seconds: float | None = None
) -> Skipped:
    """Fire the conversation's pending timers now: all of them, or with `seconds` those due
    within `seconds` of when their execution last changed (when the timer was set), as if
    the conversation had been left alone that long. Measuring from there, not from the
    server's now, makes `seconds` exact: a 2-hour timeout fires with 7200, never with 7199
    however long the caller took to ask. Conflict when nothing waits on a timer."""
    await sandbox_conversation(engine, actor, conversation_id)
    async with engine.db.read() as conn:
        timers = await job_store.conversation_timers(conn, conversation_id)
    if not timers:
        raise Conflict(
            f"nothing in sandbox conversation {conversation_id} waits on a timer: no "
            "wait_for_response timeout or send_text delay is pending (the flow waits for the "
            "user without a timeout, has ended, or is running)"
        )
    due = [row for row in timers if seconds is None or _due_within(row, seconds)]
    ran = await engine.worker.run_jobs_now([int(row["id"]) for row in due])
    ran_ids = {row["id"] for row in ran}
    return Skipped(
        fired=[Timer.of(row) for row in due if row["id"] in ran_ids],
        still_pending=[Timer.of(row) for row in timers if row["id"] not in ran_ids],
    )


def _due_within(row: RowMapping, seconds: float) -> bool:
    set_at: datetime = row["execution_updated_at"]
    return bool(row["run_at"] <= set_at + timedelta(seconds=seconds))
