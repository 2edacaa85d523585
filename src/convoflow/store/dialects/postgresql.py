"""PostgreSQL: concurrent writers, so row locks and transaction-scoped advisory locks are
real; commits are announced with NOTIFY, heard on a LISTEN connection of its own
(`postgresql_listen.py`).

Its transactions (`PostgreSQLConnections`) are ordinary asyncpg connections from the
pool; all three kinds raise `faults.DatabaseUnavailable` when the server cannot be
reached or drops the connection (a restart, a crash), whatever shape the driver gave it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from convoflow.store import appends, faults
from convoflow.store.dialects import postgresql_listen
from convoflow.store.dialects.base import OnConflictInserts
from convoflow.store.dialects.postgresql_listen import PostgreSQLListener

if TYPE_CHECKING:
    from convoflow.store.dialects.base import EngineSetup

T = TypeVar("T")

_LOCK_KEY = sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))")
# unnest keeps the array's order, so the locks are taken in the order given.
_LOCK_KEYS = sa.text(
    "SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest(CAST(:keys AS text[])) AS k"
)
_NOTIFY = sa.text("SELECT pg_notify(:channel, :payload)")


class PostgreSQL(OnConflictInserts):
    name = "postgresql"
    row_locks = True
    write_lanes = 4
    notifies = True
    defers_appends = True
    writes_in_cte = True
    embedded = False
    drivers: tuple[str, ...] = (
        "postgresql",
        "postgres",
        "postgresql+psycopg2",
        "postgresql+psycopg",
        "postgresql+asyncpg",
    )
    async_driver = "postgresql+asyncpg"
    insert_construct = staticmethod(postgresql.insert)

    def is_integer_text(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        return column.regexp_match("^-?[0-9]{1,18}$")

    async def advisory_locks(self, conn: AsyncConnection, keys: Sequence[str]) -> None:
        if len(keys) == 1:
            await conn.execute(_LOCK_KEY, {"key": keys[0]})
        elif keys:
            await conn.execute(_LOCK_KEYS, {"keys": list(keys)})

    async def notify(self, conn: AsyncConnection, channel: str, payload: str) -> None:
        await conn.execute(_NOTIFY, {"channel": channel, "payload": payload})

    async def listen(
        self, url: str, channel: str, on_payload: Callable[[str], None], *, application_name: str
    ) -> PostgreSQLListener:
        # asyncpg's own DSN: no SQLAlchemy driver suffix.
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        return await postgresql_listen.listen(
            dsn, channel, on_payload, application_name=application_name
        )

    def pool_options(self, pool_size: int) -> dict[str, Any]:
        # No pool_pre_ping (a round trip per checkout): a dead connection is found by its
        # first statement, and then the whole pool is recycled (store/faults.py).
        return {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": False}

    def connections(self, engine: AsyncEngine, setup: EngineSetup) -> PostgreSQLConnections:
        faults.install(engine.sync_engine)
        return PostgreSQLConnections(engine)


DIALECT = PostgreSQL()


class PostgreSQLConnections:
    """A PostgreSQL database's transactions: pooled connections on the caller's loop."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def run_write(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with faults.translated(), self.engine.begin() as conn:
            result = await fn(conn)
            await appends.flush(conn)  # rows held for one executemany (defers_appends)
            return result

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with faults.translated(), self.engine.begin() as conn:
            yield conn
            await appends.flush(conn)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with faults.translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    async def dispose(self) -> None:
        return None  # the pool is the engine's, disposed by the Database
