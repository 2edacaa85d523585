"""What the worker does with each kind of job. Each handler removes or reschedules its
job in the same transaction as the job's effect, so a crash repeats the whole job or
none of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.engine import RowMapping

from convoflow.engine.actions import RetryLater, perform_http
from convoflow.engine.advance import Advance, ExecutionNotFound
from convoflow.engine.js.host import perform_js
from convoflow.engine.llm.journaled import KIND as LLM_KIND
from convoflow.engine.llm.journaled import perform_llm
from convoflow.engine.mcp import KIND as MCP_KIND
from convoflow.engine.mcp import perform_mcp
from convoflow.engine.runtime import JobHandler, Runtime
from convoflow.engine.signals import ActionDone, TimerFired
from convoflow.store import actions as action_store
from convoflow.store import executions as execution_store
from convoflow.store import jobs as job_store

log = structlog.get_logger(__name__)


async def handle_timer(runtime: Runtime, job: RowMapping) -> None:
    payload = job["payload"] or {}
    signal = TimerFired(purpose=str(payload.get("purpose")), key=str(payload.get("key")))

    async def fire(adv: Advance) -> None:
        await job_store.delete_jobs(adv.conn, [job["id"]])
        try:
            await adv.deliver(job["execution_id"], signal, expected_version=job["expected_version"])
        except ExecutionNotFound:
            log.warning("timer for a missing execution dropped", job_id=job["id"])

    await runtime.op(fire)


async def handle_action(runtime: Runtime, job: RowMapping) -> None:
    key = str((job["payload"] or {}).get("key"))
    async with runtime.db.read() as conn:
        journal = await action_store.get_journal(conn, key)
        request = dict(journal["request"]) if journal is not None else {}
        if journal is not None and "project_id" not in request:
            # Journaled by a version before egress read the project's policy itself.
            execution = await execution_store.get_execution(conn, journal["execution_id"])
            request["project_id"] = execution["project_id"] if execution is not None else None
    if journal is None or journal["status"] != "pending":
        await runtime.op(lambda adv: job_store.delete_jobs(adv.conn, [job["id"]]))
        return
    # Outside any transaction: the call may take seconds. A crash from here until the
    # commit below repeats the call with the same Idempotency-Key.
    result = await _perform(runtime, str(journal["kind"]), request, int(job["attempts"]))
    if isinstance(result, RetryLater):

        async def later(adv: Advance) -> None:
            await job_store.release_job(
                adv.conn,
                job["id"],
                run_at=adv.now + timedelta(seconds=result.delay_seconds),
                error=result.error,
            )

        await runtime.op(later)
        return

    async def complete(adv: Advance) -> bool:
        await job_store.delete_jobs(adv.conn, [job["id"]])
        if not await action_store.complete_journal(
            adv.conn, key, result=result, attempts=int(job["attempts"]), now=adv.now
        ):
            return False
        await adv.deliver(
            journal["execution_id"],
            ActionDone(key=key, result=result),
            expected_version=job["expected_version"],
        )
        return True

    if await runtime.op(complete) and journal["kind"] == LLM_KIND:
        # Committed: this answer is the journal's, the next turn may continue from it.
        runtime.conversations.answered(key, result)


async def _perform(
    runtime: Runtime, kind: str, request: dict[str, Any], attempt: int
) -> dict[str, object] | RetryLater:
    """The journaled call itself, by its kind; a model or MCP call gets most of the job's
    lease, so it ends (and is retried) before another worker could take the job."""
    max_seconds = runtime.settings.job_lease_seconds * 0.8
    if kind == LLM_KIND:
        return await perform_llm(
            runtime.db,
            runtime.llm,
            runtime.conversations,
            request,
            attempt=attempt,
            max_seconds=max_seconds,
        )
    if kind == MCP_KIND:
        return await perform_mcp(
            runtime.egress, runtime.db.cipher, request, max_seconds=max_seconds
        )
    if request.get("js"):
        return await perform_js(runtime, request, attempt=attempt)
    return await perform_http(runtime.egress, request, attempt=attempt, cipher=runtime.db.cipher)


DEFAULT_HANDLERS: dict[str, JobHandler] = {
    "timer": handle_timer,
    "action": handle_action,
}
