"""PostgreSQL's LISTEN connection: a driver-level asyncpg connection of its own, outside
the pool (a pooled connection is handed to others between transactions, and LISTEN
belongs to a session). The engine's notifier (engine/notifier.py) decides when to open
it again and what a payload means; this module only holds the connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

CONNECT_TIMEOUT_SECONDS = 10.0
_CHECK = "SELECT 1"


class PostgreSQLListener:
    """One open LISTEN connection (`listen` opens it)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: self._lost.set())

    async def lost_within(self, seconds: float) -> bool:
        """True once the connection is lost; False if it still stands after `seconds`."""
        try:
            await asyncio.wait_for(self._lost.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def check(self, seconds: float) -> None:
        """One round trip within `seconds`; raises if the connection is dead. A
        connection cut without a FIN (a network failure) shows nothing until it is used."""
        await self._conn.fetchval(_CHECK, timeout=seconds)

    def close(self) -> None:
        self._conn.terminate()


async def listen(
    dsn: str, channel: str, on_payload: Callable[[str], None], *, application_name: str
) -> PostgreSQLListener:
    """A connection to `dsn` that LISTENs on `channel` and calls `on_payload` with each
    notification's payload; raises if it cannot be opened. `application_name` names it in
    pg_stat_activity, for an operator (and tests/durability/test_db_faults.py)."""
    import asyncpg  # here: a process on SQLite never loads the driver

    conn = await asyncpg.connect(
        dsn,
        timeout=CONNECT_TIMEOUT_SECONDS,
        server_settings={"application_name": application_name},
    )
    try:
        listener = PostgreSQLListener(conn)
        await conn.add_listener(channel, lambda _conn, _pid, _channel, payload: on_payload(payload))
    except BaseException:
        conn.terminate()
        raise
    return listener
