"""Sending project-webhook deliveries, and the workflow events that create them.

A delivery is a row written with its event; a `webhook_delivery` job sends it outside
any transaction and records the outcome (and deletes or reschedules the job) in one.
Retries: 10 s, 40 s and 90 s after the first attempt, then `failed`. A target the SSRF
guard refuses is `failed` at once, with the guard's reason: the answer would not change on
a retry (a host that does not resolve is retried, DNS may answer later). A crash between the
POST and the record sends it again with the same `X-Idempotency-Key` (at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.engine.advance import Advance
from convoflow.engine.egress import Outcome
from convoflow.engine.state import ExecutionState
from convoflow.services.project_webhooks.events import Event, write_deliveries
from convoflow.store import jobs as job_store
from convoflow.store import messages as message_store
from convoflow.store import webhooks as webhook_store

if TYPE_CHECKING:
    from convoflow.engine.runtime import Runtime
    from convoflow.services.whatsapp.directory import WhatsAppDirectory

log = structlog.get_logger(__name__)

RETRY_DELAYS = (10.0, 40.0, 90.0)  # after attempts 1, 2 and 3; attempt 4 is the last
TIMEOUT_SECONDS = 10.0


def signature(secret: str, body: bytes) -> str:
    """`X-Webhook-Signature`: lowercase hex HMAC-SHA256 of the exact body bytes."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def request_headers(
    webhook: RowMapping | None, delivery: RowMapping, body: bytes
) -> dict[str, str]:
    headers = {str(k): str(v) for k, v in ((webhook["headers"] if webhook else None) or {}).items()}
    headers.update(
        {
            "Content-Type": "application/json",
            "X-Webhook-Event": str(delivery["event"]),
            "X-Webhook-Payload-Version": str(
                (webhook["payload_version"] if webhook else None) or "v2"
            ),
            "User-Agent": "convoflow-webhooks",
        }
    )
    secret = webhook["secret_key"] if webhook is not None else None
    if secret:
        headers["X-Webhook-Signature"] = signature(str(secret), body)
    return headers


async def _attempt(runtime: Runtime, delivery: RowMapping, webhook: RowMapping | None) -> Outcome:
    """One POST through the egress module. Never raises."""
    body = orjson.dumps(delivery["payload"])
    return await runtime.egress.request(
        "POST",
        str(webhook["url"] if webhook is not None else delivery["webhook_url"]),
        project_id=str(delivery["project_id"]),
        headers=request_headers(webhook, delivery, body),
        content=body,
        timeout_seconds=TIMEOUT_SECONDS,
        idempotency_key=str(delivery["id"]),
        idempotency_header="X-Idempotency-Key",
    )


async def handle_delivery_job(runtime: Runtime, job: RowMapping) -> None:
    delivery_id = str((job["payload"] or {}).get("delivery_id"))
    async with runtime.db.read() as conn:
        delivery = await webhook_store.get_delivery(conn, delivery_id)
        webhook = (
            await webhook_store.get_webhook(conn, delivery["webhook_id"], delivery["project_id"])
            if delivery is not None and delivery["webhook_id"]
            else None
        )
    if delivery is None or delivery["status"] != "pending":
        await runtime.op(lambda adv: job_store.delete_jobs(adv.conn, [job["id"]]))
        return
    started = time.monotonic()
    outcome = await _attempt(runtime, delivery, webhook)
    status_code, error = outcome.status, outcome.error
    attempt = int(delivery["attempt_count"]) + 1
    # Every failure is retried (Kapso's schedule) except a target the guard refuses.
    last = outcome.refused or attempt > len(RETRY_DELAYS)

    async def record(adv: Advance) -> None:
        values: dict[str, Any] = {
            "attempt_count": attempt,
            "response_status": status_code,
            "last_attempt_at": adv.now,
            "last_error": error,
        }
        if error is None:
            values.update(status="delivered", delivered_at=adv.now)
        elif last:
            values.update(status="failed", failed_at=adv.now)
        if error is None or last:
            await job_store.delete_jobs(adv.conn, [job["id"]])
        else:
            delay = RETRY_DELAYS[attempt - 1]
            await job_store.release_job(
                adv.conn, job["id"], run_at=adv.now + timedelta(seconds=delay), error=error
            )
        await webhook_store.record_attempt(adv.conn, delivery_id, values)

    await runtime.op(record)
    if error is not None:
        runtime.metrics.webhook_delivery_failed(final=last)
    log.info(
        "webhook delivery attempt",
        delivery_id=delivery_id,
        webhook_event=delivery["event"],
        attempt=attempt,
        status=status_code,
        ok=error is None,
        ms=round((time.monotonic() - started) * 1000, 1),
    )


class WorkflowWebhookListener:
    """EngineHooks listener: `workflow.execution.failed` and `.handoff` deliveries,
    written in the advancing transaction (kapso-reference §1.7 payloads)."""

    def __init__(self, directory: WhatsAppDirectory) -> None:
        self.directory = directory

    def execution_finished(self, adv: Advance, state: ExecutionState) -> None:
        return None

    def execution_failed(self, adv: Advance, state: ExecutionState) -> None:
        message = (state.error_details or {}).get("message") or "execution failed"
        self._enqueue(adv, state, "workflow.execution.failed", {"error": {"message": message}})

    def execution_handoff(self, adv: Advance, state: ExecutionState) -> None:
        handoff = state.system.get("handoff") or {}
        extra = {"handoff": {"reason": handoff.get("reason"), "source": handoff.get("source")}}
        self._enqueue(adv, state, "workflow.execution.handoff", extra)

    def _enqueue(
        self, adv: Advance, state: ExecutionState, name: str, extra: dict[str, Any]
    ) -> None:
        if state.observer or state.parent_execution_id is not None:
            return  # observers and child executions are not "the" conversation's flow
        context = state.context.get("context") or {}
        data = {
            "workflow_id": state.workflow_id,
            "workflow_execution_id": state.id,
            "status": state.status,
            "tracking_id": state.tracking_id,
            "channel": "whatsapp" if context.get("channel") == "whatsapp" else "api",
            "whatsapp_conversation_id": state.conversation_id,
            **extra,
        }
        now = adv.now

        async def write(conn: AsyncConnection) -> None:
            # Runs in Advance.flush, after the advance's own jobs were inserted: this
            # inserts its jobs itself, in the same transaction.
            webhooks = await self.directory.webhooks(state.project_id)
            if not any(name in (w["events"] or []) for w in webhooks):
                return
            conversation = (
                await message_store.get_conversation(conn, state.conversation_id)
                if state.conversation_id
                else None
            )
            event = Event(
                state.project_id,
                name,
                data,
                conversation["phone_number_id"] if conversation is not None else None,
                conversation["wa_id"] if conversation is not None else None,
            )
            jobs = await write_deliveries(conn, webhooks, event, now)
            await job_store.insert_jobs(conn, jobs)
            if jobs:
                adv.after_commit.append(adv.runtime.notifier.jobs_changed)

        adv.extra_writes.append(write)
