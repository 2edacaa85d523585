"""SQLite: one writer at a time, so row and advisory locks are implied; no cross-process
notifications (other processes poll).

How its transactions run (`SQLiteConnections`, which `store/db.py: Database` delegates
to): the whole write transaction runs in a dedicated writer thread on a plain
(synchronous) sqlite3 connection, wrapped so that the same async code works unchanged
(`ThreadConnection`): SQLite has one writer anyway, and this avoids a thread hop per
statement (aiosqlite), which measured 5-10x slower per statement than the statement
itself. Writes begin with `BEGIN IMMEDIATE` (no deferred-transaction upgrade deadlock).
Functions given to `run_write` must only use the connection: awaiting anything that
lives on the caller's event loop from inside them would deadlock. Reads run inline on
the event loop, on plain sqlite3 connections.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from convoflow.store.dialects.base import OnConflictInserts
from convoflow.store.dialects.sqlite_writes import writes_of

if TYPE_CHECKING:
    from convoflow.store.dialects.base import EngineSetup, Listener

T = TypeVar("T")

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a committed advance survives power loss, not just a process crash.
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
)


class SQLite(OnConflictInserts):
    name = "sqlite"
    row_locks = False
    write_lanes = 1
    notifies = False
    defers_appends = False
    writes_in_cte = False
    embedded = True
    drivers: tuple[str, ...] = ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite")
    async_driver = "sqlite+aiosqlite"
    insert_construct = staticmethod(sqlite.insert)

    def is_integer_text(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        # GLOB has no repetition: an optional sign, then 1..18 characters, none a non-digit.
        digits = sa.case(
            (sa.func.substr(column, 1, 1) == "-", sa.func.substr(column, 2)), else_=column
        )
        non_digit = digits.op("GLOB", is_comparison=True)("*[^0-9]*")
        return sa.and_(sa.func.length(digits).between(1, 18), sa.not_(non_digit))

    async def advisory_locks(self, conn: AsyncConnection, keys: Sequence[str]) -> None:
        return None

    async def notify(self, conn: AsyncConnection, channel: str, payload: str) -> None:
        return None

    async def listen(
        self, url: str, channel: str, on_payload: Callable[[str], None], *, application_name: str
    ) -> Listener:
        raise ValueError("SQLite has no LISTEN: its processes poll")

    def pool_options(self, pool_size: int) -> dict[str, Any]:
        # Writes go through the writer thread and reads are inline: the async engine's
        # pool only serves `write()` (one at a time) and migrations.
        return {"pool_size": pool_size, "max_overflow": 0}

    def connections(self, engine: AsyncEngine, setup: EngineSetup) -> SQLiteConnections:
        _install_hooks(engine.sync_engine)
        return SQLiteConnections(engine, setup)


DIALECT = SQLite()


def _install_hooks(sync_engine: sa.Engine) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("convoflow_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def _sync_engine(setup: EngineSetup, *, pool_size: int) -> sa.Engine:
    """A plain pysqlite engine on the same file, with our pragmas and BEGIN handling."""
    engine = sa.create_engine(
        make_url(setup.url).set(drivername="sqlite+pysqlite"),
        **setup.options,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"check_same_thread": False},
    )
    _install_hooks(engine)
    setup.configure(engine)
    return engine


class SQLiteConnections:
    """A SQLite database's transactions: one serialised writer, inline reads."""

    def __init__(self, engine: AsyncEngine, setup: EngineSetup) -> None:
        self.engine = engine
        self.setup = setup
        self._write_lock = asyncio.Lock()
        self._writer: SqliteWriter | None = None
        self._read_engine: sa.Engine | None = None

    async def run_write(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if self._writer is None:
            self._writer = SqliteWriter(self.engine, _sync_engine(self.setup, pool_size=1))
        return await self._writer.run(fn)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self._write_lock, self.engine.connect() as conn:
            conn = await conn.execution_options(convoflow_write=True)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        # Inline on the event loop, on a plain sqlite3 connection: a keyset page or a
        # lookup by id takes well under a millisecond, less than the thread hops
        # aiosqlite makes for BEGIN, each statement and COMMIT.
        if self._read_engine is None:
            self._read_engine = _sync_engine(self.setup, pool_size=self.setup.pool_size)
        with self._read_engine.connect() as sync_conn:
            inline = ThreadConnection(self.engine, sync_conn)
            async with inline.begin():
                yield inline

    async def dispose(self) -> None:
        if self._writer is not None:
            await asyncio.to_thread(self._writer.stop)
            self._writer = None
        if self._read_engine is not None:
            self._read_engine.dispose()
            self._read_engine = None


class ThreadConnection(AsyncConnection):
    """An AsyncConnection over a synchronous Connection, for use inside the writer thread:
    statements run directly instead of through the async driver. Transactions and
    savepoints (`begin`, `begin_nested`) work through SQLAlchemy's own code unchanged."""

    __slots__ = ()

    async def execute(
        self,
        statement: Any,
        parameters: Any = None,
        *,
        execution_options: Any = None,
    ) -> Any:
        if execution_options is None and type(parameters) in (dict, list):
            # A plain write: straight to sqlite3 when that gives the same result.
            written = writes_of(self._proxied).run(self._proxied, statement, parameters)
            if written is not None:
                return written
        if type(parameters) is list and parameters and self._proxied.in_transaction():
            # pysqlite's executemany keeps the rows before a failing one: all or none.
            with self._proxied.begin_nested():
                return self._proxied.execute(
                    statement, parameters, execution_options=execution_options
                )
        return self._proxied.execute(statement, parameters, execution_options=execution_options)

    async def exec_driver_sql(
        self, statement: str, parameters: Any = None, execution_options: Any = None
    ) -> Any:
        return self._proxied.exec_driver_sql(statement, parameters, execution_options)


class SqliteWriter:
    """The one thread that writes to a SQLite database, with its own event loop."""

    def __init__(self, engine: AsyncEngine, sync_engine: sa.Engine) -> None:
        self.engine = engine
        self.sync_engine = sync_engine
        self.loop = asyncio.new_event_loop()
        self._connection: sa.Connection | None = None
        self._thread = threading.Thread(target=self._serve, name="sqlite-writer", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def run(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        future = asyncio.run_coroutine_threadsafe(self._transaction(fn), self.loop)
        return await asyncio.wrap_future(future)

    async def _transaction(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if self._connection is None or self._connection.closed:
            self._connection = self.sync_engine.connect().execution_options(convoflow_write=True)
        conn = ThreadConnection(self.engine, self._connection)
        try:
            async with conn.begin():
                return await fn(conn)
        except BaseException:
            if self._connection.invalidated:
                self._connection = None
            raise

    def stop(self) -> None:
        def shutdown() -> None:
            if self._connection is not None:
                self._connection.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(shutdown)
        self._thread.join(timeout=10)
        self.sync_engine.dispose()
