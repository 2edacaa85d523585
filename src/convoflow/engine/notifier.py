"""Wake-ups for the worker and the outbox dispatcher.

Only a latency optimisation: workers also poll, so a lost notification costs at most one
poll interval. In-process it is an asyncio.Event; on PostgreSQL a `NOTIFY` sent inside the
committing transaction reaches every worker process that LISTENs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.db import Database

CHANNEL = "convoflow_wake"
log = structlog.get_logger(__name__)


class Notifier:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.jobs = asyncio.Event()
        self.outbox = asyncio.Event()
        self._listener: Any = None

    def jobs_changed(self) -> None:
        self.jobs.set()

    def outbox_changed(self) -> None:
        self.outbox.set()

    def wake_all(self) -> None:
        self.jobs.set()
        self.outbox.set()

    async def notify_in_transaction(self, conn: AsyncConnection) -> None:
        if self.db.is_sqlite:
            return
        transaction = conn.get_transaction()
        if conn.info.get("convoflow_notified") is transaction:
            return  # once per transaction is enough: all listeners wake and poll
        conn.info["convoflow_notified"] = transaction
        await conn.execute(text(f"NOTIFY {CHANNEL}"))

    async def listen(self) -> None:
        """Start LISTENing on PostgreSQL (no-op on SQLite). Failure is not fatal: polling."""
        if self.db.is_sqlite or self._listener is not None:
            return
        try:
            import asyncpg

            dsn = self.db.url.replace("postgresql+asyncpg://", "postgresql://")
            self._listener = await asyncpg.connect(dsn)
            await self._listener.add_listener(CHANNEL, lambda *_: self.wake_all())
        except Exception as exc:
            log.warning("LISTEN unavailable; relying on polling", error=str(exc))
            self._listener = None

    async def close(self) -> None:
        if self._listener is not None:
            try:
                await self._listener.close()
            finally:
                self._listener = None
