"""Worker jobs of the WhatsApp channel that call Meta: read receipts (+ typing).

The network call happens outside any transaction; the job is deleted (or rescheduled)
afterwards. A read receipt is a courtesy: after MAX_ATTEMPTS failures it is dropped.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.engine import RowMapping

from convoflow.channels.whatsapp.client import GraphClient
from convoflow.channels.whatsapp.errors import Action, GraphError, classify
from convoflow.engine.advance import Advance
from convoflow.store import jobs as job_store
from convoflow.store import whatsapp as wa_store

if TYPE_CHECKING:
    from convoflow.engine.runtime import JobHandler, Runtime
    from convoflow.services.whatsapp.directory import WhatsAppDirectory

log = structlog.get_logger(__name__)
MAX_ATTEMPTS = 3


def mark_read_handler(directory: WhatsAppDirectory, client: GraphClient) -> JobHandler:
    async def handle(runtime: Runtime, job: RowMapping) -> None:
        payload = job["payload"] or {}
        phone_number_id = str(payload.get("phone_number_id"))
        async with runtime.db.read() as conn:
            wamid = await wa_store.latest_inbound_wamid(conn, str(payload.get("conversation_id")))
        credentials = await directory.credentials(phone_number_id)
        retry_in: float | None = None
        if wamid and credentials is not None:
            try:
                await client.mark_read(
                    phone_number_id,
                    credentials.access_token,
                    wamid,
                    typing=bool(payload.get("typing")),
                )
            except GraphError as exc:
                policy = classify(exc.code, exc.subcode, exc.http_status)
                if policy.action is Action.RETRY and int(job["attempts"]) < MAX_ATTEMPTS:
                    retry_in = max(1.0, policy.base_delay)
                else:
                    log.warning("read receipt dropped", phone_number_id=phone_number_id,
                                code=exc.code)  # fmt: skip

        async def finish(adv: Advance) -> None:
            if retry_in is None:
                await job_store.delete_jobs(adv.conn, [job["id"]])
            else:
                await job_store.release_job(
                    adv.conn, job["id"], run_at=adv.now + timedelta(seconds=retry_in),
                    error="read receipt failed; retrying",
                )  # fmt: skip

        await runtime.op(finish)

    return handle
