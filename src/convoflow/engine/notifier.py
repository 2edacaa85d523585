"""Wake-ups for the worker and the outbox dispatcher.

Only a latency optimisation: workers also poll, so a lost notification costs at most one
poll interval. In-process it is an asyncio.Event; on PostgreSQL a `NOTIFY` sent inside the
committing transaction reaches every worker process that LISTENs.

The same channel carries revoked API keys (payload `api_key_revoked:<key id>`), so every
API process drops the key from its cache at once; a lost notification costs at most the
cache time (api/auth.py: KEY_CACHE_SECONDS).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.db import Database

CHANNEL = "convoflow_wake"
KEY_REVOKED = "api_key_revoked:"
log = structlog.get_logger(__name__)


class Notifier:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.jobs = asyncio.Event()
        self.outbox = asyncio.Event()
        self._listener: Any = None
        # Called with the id of a revoked API key (the API's key cache subscribes).
        self.key_revoked_listeners: list[Callable[[str], None]] = []

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

    def key_revoked(self, key_id: str) -> None:
        for listener in self.key_revoked_listeners:
            listener(key_id)

    async def notify_key_revoked(self, conn: AsyncConnection, key_id: str) -> None:
        """Tell every process LISTENing (PostgreSQL) when the transaction commits."""
        if self.db.is_sqlite:
            return
        await conn.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": KEY_REVOKED + key_id},
        )

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.startswith(KEY_REVOKED):
            self.key_revoked(payload[len(KEY_REVOKED) :])
        else:
            self.wake_all()

    async def listen(self) -> None:
        """Start LISTENing on PostgreSQL (no-op on SQLite). Failure is not fatal: polling."""
        if self.db.is_sqlite or self._listener is not None:
            return
        try:
            import asyncpg

            dsn = self.db.url.replace("postgresql+asyncpg://", "postgresql://")
            self._listener = await asyncpg.connect(dsn)
            await self._listener.add_listener(CHANNEL, self._on_notify)
        except Exception as exc:
            log.warning("LISTEN unavailable; relying on polling", error=str(exc))
            self._listener = None

    async def close(self) -> None:
        if self._listener is not None:
            try:
                await self._listener.close()
            finally:
                self._listener = None
