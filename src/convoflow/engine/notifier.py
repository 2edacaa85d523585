"""Wake-ups for the worker and the outbox dispatcher.

Only a latency optimisation: workers also poll, so a lost notification costs at most one
poll interval. In-process it is an asyncio.Event; on PostgreSQL a `NOTIFY` sent inside the
committing transaction reaches every worker process that LISTENs.

The notifier also tells live streams (the API's server-sent events) that something was
committed: `data_changed` sets the event `next_change` gave every waiter (the committer
calls it after each commit in this process; on PostgreSQL every notification from another
process does too). Streams poll as well, so a commit nobody notified (another process's
send, on SQLite or without a NOTIFY) costs at most a poll interval.

The LISTEN connection itself is the store's (`Database.listen`, a driver-level connection
in store/dialects/postgresql_listen.py); this module decides when to open it again and
what a payload means.

The same channel carries revoked API keys (payload `api_key_revoked:<key id>`), so every
API process drops the key from its cache at once; a lost notification costs at most the
cache time (api/auth.py: KEY_CACHE_SECONDS).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.db import Database

CHANNEL = "convoflow_wake"
KEY_REVOKED = "api_key_revoked:"
LISTEN_CHECK_SECONDS = 10.0
LISTEN_APPLICATION = "convoflow-listen"
log = structlog.get_logger(__name__)


class Notifier:
    def __init__(
        self, db: Database, key_revoked_listeners: Sequence[Callable[[str], None]] = ()
    ) -> None:
        """`key_revoked_listeners` are called with the id of a revoked API key (the
        process's key cache, given by convoflow/process.py)."""
        self.db = db
        self.jobs = asyncio.Event()
        self.outbox = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self.key_revoked_listeners = tuple(key_revoked_listeners)
        # Replaced on every pulse, so one set() wakes exactly those waiting at that time.
        self._changed = asyncio.Event()

    def jobs_changed(self) -> None:
        self.jobs.set()

    def outbox_changed(self) -> None:
        self.outbox.set()

    def wake_all(self) -> None:
        self.jobs.set()
        self.outbox.set()
        self.data_changed()

    def data_changed(self) -> None:
        """Something was committed: wake every stream waiting for a change."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def next_change(self) -> asyncio.Event:
        """The event the next `data_changed` sets. Take it before reading, wait on it
        after: a commit between the two is not missed."""
        return self._changed

    async def notify_in_transaction(self, conn: AsyncConnection) -> None:
        if not self.db.backend.notifies:
            return
        transaction = conn.get_transaction()
        if conn.info.get("convoflow_notified") is transaction:
            return  # once per transaction is enough: all listeners wake and poll
        conn.info["convoflow_notified"] = transaction
        await self.db.backend.notify(conn, CHANNEL, "")

    def key_revoked(self, key_id: str) -> None:
        for listener in self.key_revoked_listeners:
            listener(key_id)

    async def notify_key_revoked(self, conn: AsyncConnection, key_id: str) -> None:
        """Tell every process LISTENing (PostgreSQL) when the transaction commits."""
        await self.db.backend.notify(conn, CHANNEL, KEY_REVOKED + key_id)

    def _on_payload(self, payload: str) -> None:
        if payload.startswith(KEY_REVOKED):
            self.key_revoked(payload[len(KEY_REVOKED) :])
        else:
            self.wake_all()

    async def listen(self) -> None:
        """LISTEN on PostgreSQL (no-op on SQLite), on a connection of its own that is
        opened again whenever it is lost (a restart, a crash), with backoff. Until then,
        and for notifications missed meanwhile, polling covers. Returns once the first
        attempt is over, so a process that starts serving is already listening."""
        if not self.db.backend.notifies or self._keeper is not None:
            return
        self._keeper = asyncio.create_task(self._keep_listening(), name="listen")
        await self._first_attempt.wait()

    async def _keep_listening(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen_until_lost()
            except Exception as exc:
                self._first_attempt.set()
                if delay == 0.1:
                    log.warning("LISTEN unavailable; relying on polling", error=str(exc))
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
            else:
                log.warning("LISTEN connection lost; opening it again")
                delay = 0.1

    async def _listen_until_lost(self) -> None:
        """Returns when the connection is lost; raises if it cannot be opened."""
        # Named, so an operator (and tests/durability/test_db_faults.py) can see it.
        listener = await self.db.listen(
            CHANNEL, self._on_payload, application_name=LISTEN_APPLICATION
        )
        try:
            self.wake_all()  # whatever was notified while we were not listening
            self._first_attempt.set()
            while not await listener.lost_within(LISTEN_CHECK_SECONDS):
                # A connection cut without a FIN (a network failure) shows nothing until
                # it is used: ask it something now and then.
                await listener.check(LISTEN_CHECK_SECONDS)
        finally:
            listener.close()

    async def close(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
