"""WhatsApp events inside the transaction that caused them: deliveries to project
webhooks, and observer executions of `whatsapp_event` triggers (kapso-reference §3.9).

Observers start from a job (`whatsapp_event`), scheduled in the event's transaction, so
the webhook that caused the event is answered without running any flow. Observers never
touch the conversation's own execution: statuses and events start nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import RowMapping

from convoflow.engine.advance import Advance
from convoflow.engine.runtime import WorkflowNotFound, WorkflowNotRunnable, new_execution
from convoflow.services.conversations.routing import conversation_context
from convoflow.services.project_webhooks import events as webhook_events
from convoflow.services.project_webhooks.events import Event
from convoflow.store import jobs as job_store
from convoflow.store import messages as message_store
from convoflow.store import whatsapp as wa_store

if TYPE_CHECKING:
    from convoflow.engine.runtime import Runtime

OBSERVER_JOB = "whatsapp_event"
BuildData = Callable[[], Awaitable[dict[str, Any]]]


class EventSink:
    """Publishes events for one transaction. `webhooks` are the active webhooks of the
    projects concerned, read before the transaction (services/whatsapp/directory.py)."""

    def __init__(self, adv: Advance, webhooks: dict[str, list[RowMapping]]) -> None:
        self.adv = adv
        self.webhooks = webhooks
        # project -> its active whatsapp_event triggers, read once per transaction; an
        # empty list when the caller already knows the project has none.
        self._triggers: dict[str, list[RowMapping]] = {}

    def no_event_triggers(self, project_id: str) -> None:
        """The caller read in this transaction that the project has no whatsapp_event
        trigger (store.whatsapp.find_active_conversation_and_flow): skip the lookup."""
        self._triggers.setdefault(project_id, [])

    async def _observers(
        self, project_id: str, name: str, phone_number_id: str | None
    ) -> list[RowMapping]:
        rows = self._triggers.get(project_id)
        if rows is None:
            rows = await wa_store.project_event_triggers(self.adv.conn, project_id)
            self._triggers[project_id] = rows
        return [
            row
            for row in rows
            if row["event"] == name
            and (row["phone_number_id"] is None or row["phone_number_id"] == phone_number_id)
        ]

    async def publish(
        self,
        *,
        project_id: str,
        name: str,
        phone_number_id: str | None,
        conversation_id: str | None,
        conversation_phone_number: str | None,
        dedupe: str,
        build: BuildData,
    ) -> None:
        """`build` makes the payload, only when somebody listens. `dedupe` names this
        occurrence (a wamid, a wamid+status) so a repeated event starts no second observer."""
        probe = Event(project_id, name, {}, phone_number_id, conversation_phone_number)
        listeners = [w for w in self.webhooks.get(project_id, []) if webhook_events.wants(w, probe)]
        observers: list[RowMapping] = []
        if name in webhook_events.TRIGGERABLE_EVENTS:
            observers = await self._observers(project_id, name, phone_number_id)
        if not listeners and not observers:
            return
        data = await build()
        event = Event(project_id, name, data, phone_number_id, conversation_phone_number)
        jobs = await webhook_events.write_deliveries(self.adv.conn, listeners, event, self.adv.now)
        for job in jobs:
            self.adv.schedule_job(
                job["kind"], run_at=job["run_at"], dedupe_key=job["dedupe_key"],
                payload=job["payload"],
            )  # fmt: skip
        for trigger in observers:
            self.adv.schedule_job(
                OBSERVER_JOB,
                run_at=self.adv.now,
                dedupe_key=f"wa_event:{trigger['id']}:{dedupe}"[:200],
                payload={
                    "workflow_id": trigger["workflow_id"],
                    "project_id": project_id,
                    "conversation_id": conversation_id,
                    "event": webhook_events.payload_of(event, self.adv.now),
                },
            )


async def handle_observer_job(runtime: Runtime, job: RowMapping) -> None:
    payload = job["payload"] or {}

    async def start(adv: Advance) -> None:
        await job_store.delete_jobs(adv.conn, [job["id"]])
        conversation_id = payload.get("conversation_id")
        conversation = (
            await message_store.get_conversation(adv.conn, conversation_id)
            if conversation_id
            else None
        )
        context = conversation_context(conversation) if conversation else {"channel": "whatsapp"}
        try:
            state = await new_execution(
                adv,
                project_id=str(payload["project_id"]),
                workflow_id=str(payload["workflow_id"]),
                trigger_type="whatsapp_event",
                system_extra={"event": payload.get("event")},
                context=context,
                conversation_id=conversation_id,
                observer=True,
            )
        except (WorkflowNotRunnable, WorkflowNotFound):
            return  # archived or deleted since the event: nothing to observe with
        await adv.start(state)

    await runtime.op(start)
