"""What an advance decides, collected in memory and written in one go by `flush()`.

Steps and the runtime record effects here — events, outbound messages, jobs, journaled
actions, execution rows touched — and nothing reaches the database until `flush()`,
which runs inside the caller's transaction just before it commits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.engine.state import ExecutionState
from convoflow.ids import new_id
from convoflow.store import actions as action_store
from convoflow.store import executions as execution_store
from convoflow.store import jobs as job_store
from convoflow.store import outbox as outbox_store

if TYPE_CHECKING:
    from convoflow.engine.notifier import Notifier


def _fingerprint(state: ExecutionState) -> bytes:
    """The row as loaded, to tell in `flush` whether the advance changed it at all."""
    row = state.to_row()
    row.pop("updated_at", None)
    return orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS, default=str)


class Effects:
    def __init__(
        self,
        conn: AsyncConnection,
        now: datetime,
        notifier: Notifier,
        after_commit: list[Callable[[], None]],
    ) -> None:
        self.conn = conn
        self.now = now
        self.notifier = notifier
        self.after_commit = after_commit
        self._executions: dict[str, ExecutionState] = {}
        self._loaded: dict[str, bytes] = {}
        self._order: list[str] = []
        self._events: list[dict[str, Any]] = []
        self._outbox: list[dict[str, Any]] = []
        self._jobs: list[dict[str, Any]] = []
        self._journal: list[dict[str, Any]] = []
        self._clear_timers: set[str] = set()
        self.extra_writes: list[Callable[[AsyncConnection], Any]] = []

    # --- executions touched ------------------------------------------------------------

    def tracked(self, execution_id: str) -> ExecutionState | None:
        return self._executions.get(execution_id)

    def track_loaded(self, state: ExecutionState) -> None:
        self._loaded[state.id] = _fingerprint(state)
        self._track(state)

    def adopt_new(self, state: ExecutionState) -> None:
        state.is_new = True
        state.loaded_version = 0
        self._track(state)

    def _track(self, state: ExecutionState) -> None:
        self._executions[state.id] = state
        self._order.append(state.id)

    # --- effects ---------------------------------------------------------------------

    def emit(
        self,
        state: ExecutionState,
        event_type: str,
        payload: dict[str, Any] | None = None,
        *,
        node_id: str | None = None,
        direction: str | None = None,
        edge_label: str | None = None,
    ) -> int:
        state.event_seq += 1
        self._events.append(
            {
                "id": new_id(),
                "execution_id": state.id,
                "seq": state.event_seq,
                "event_type": event_type,
                "node_id": node_id,
                "direction": direction,
                "edge_label": edge_label,
                "payload": payload or {},
                "created_at": self.now,
            }
        )
        state.last_event_at = self.now
        return state.event_seq

    def unflushed_events(self, execution_id: str) -> list[dict[str, Any]]:
        """Events of this advance not yet written (a function payload must see them)."""
        return [e for e in self._events if e["execution_id"] == execution_id]

    def queue_message(self, state: ExecutionState, node_id: str, message: dict[str, Any]) -> str:
        if state.observer and not message.get("to"):
            self.emit(state, "message_suppressed", {"reason": "observer_mode"}, node_id=node_id)
            return ""
        seq = self.emit(
            state,
            "action_performed",
            {"action": "send_message", "message_type": message.get("type")},
            node_id=node_id,
            direction="outbound",
        )
        key = f"{state.id}:{seq}"
        channel = str(state.context.get("context", {}).get("channel") or "none")
        self._outbox.append(
            {
                "id": new_id(),
                "project_id": state.project_id,
                "execution_id": state.id,
                "conversation_id": state.conversation_id,
                "channel": channel,
                "idempotency_key": key,
                "message": message,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": self.now,
                "created_at": self.now,
            }
        )
        return key

    def schedule_job(
        self,
        kind: str,
        *,
        run_at: datetime,
        execution_id: str | None = None,
        dedupe_key: str | None = None,
        expected_version: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        self._jobs.append(
            {
                "kind": kind,
                "execution_id": execution_id,
                "dedupe_key": dedupe_key,
                "run_at": run_at,
                "expected_version": expected_version,
                "payload": payload or {},
                "attempts": 0,
                "created_at": self.now,
            }
        )

    def journal_action(self, row: dict[str, Any]) -> None:
        self._journal.append(row)

    # --- writing -----------------------------------------------------------------------

    async def flush(self) -> None:
        changed = [
            state
            for state in (self._executions[i] for i in dict.fromkeys(self._order))
            # Only read (a stale timer, input for a busy execution): bumping its version
            # would turn its live timers and action results stale.
            if state.is_new or self._loaded.get(state.id) != _fingerprint(state)
        ]
        # Timers of an execution updated below go with its update (one statement on
        # PostgreSQL); the others' are deleted first, as before. A timer scheduled in
        # this advance is inserted after either.
        updated = {state.id for state in changed if not state.is_new}
        for execution_id in self._clear_timers - updated:
            await job_store.delete_execution_timers(self.conn, execution_id)
        for state in changed:
            state.updated_at = self.now
            if state.is_new:
                state.version = 1
                await execution_store.insert_execution(self.conn, state.to_row())
                state.is_new = False
            else:
                state.version = state.loaded_version + 1
                await execution_store.update_execution_cas(
                    self.conn,
                    state.to_row(),
                    state.loaded_version,
                    clear_timers=state.id in self._clear_timers,
                )
            state.loaded_version = state.version
            self._loaded[state.id] = _fingerprint(state)
        await execution_store.insert_events(self.conn, self._events)
        if self._journal:
            await action_store.insert_journal(self.conn, self._journal)
        await outbox_store.insert_outbox(self.conn, self._outbox)
        await job_store.insert_jobs(self.conn, self._jobs)
        for write in self.extra_writes:
            await write(self.conn)
        notifier = self.notifier
        if self._outbox:
            self.after_commit.append(notifier.outbox_changed)
        if self._jobs:
            soonest = min(job["run_at"] for job in self._jobs)
            if soonest <= self.now + timedelta(seconds=1):
                self.after_commit.append(notifier.jobs_changed)
        if self._jobs or self._outbox:
            await notifier.notify_in_transaction(self.conn)
        self._events.clear()
        self._outbox.clear()
        self._jobs.clear()
        self._journal.clear()
        self.extra_writes.clear()

    def clear_timers_of(self, execution_id: str) -> None:
        self._clear_timers.add(execution_id)
