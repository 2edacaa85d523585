"""Database connections and transactions for SQLite and PostgreSQL.

One `Database` per process.

`run_write(fn)` runs `fn(conn)` in one write transaction and commits; this is what the
group committer uses for every engine write. On PostgreSQL `conn` is an ordinary
AsyncConnection (asyncpg). On SQLite the whole transaction runs in a dedicated writer
thread on a plain (synchronous) sqlite3 connection, wrapped so that the same async code
works unchanged (`ThreadConnection`): SQLite has one writer anyway, and this avoids a
thread hop per statement (aiosqlite), which measured 5-10x slower per statement than the
statement itself. Writes begin with `BEGIN IMMEDIATE` (no deferred-transaction upgrade
deadlock). Functions given to `run_write` must only use the connection: awaiting
anything that lives on the caller's event loop from inside them would deadlock.

`read()` opens a read snapshot (aiosqlite / asyncpg); `write()` is a write transaction on
the caller's loop, for the rare writes that do not go through the committer.

On PostgreSQL all three raise `faults.DatabaseUnavailable` when the server cannot be
reached or drops the connection (a restart, a crash), whatever shape the driver gave it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from convoflow.store import dialects, faults
from convoflow.store.cipher import SecretCipher, attach

T = TypeVar("T")
# conn.info key set to True by every data-changing statement (see engine/committer.py).
WROTE = "convoflow_wrote"
_READ_PREFIXES = ("SELECT", "WITH", "PRAGMA", "SAVEPOINT", "RELEASE")


def _mark_writes(sync_engine: sa.Engine) -> None:
    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Row locks taken by SELECT ... FOR UPDATE are no write: they only last until
        # the batch commits.
        if not statement.lstrip()[:9].upper().startswith(_READ_PREFIXES):
            conn.info[WROTE] = True


SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a committed advance survives power loss, not just a process crash.
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_loads(value: Any) -> Any:
    # SQLite hands back a bare JSON number stored in a JSON column as an int/float.
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` / `sqlite:///` URLs and pick the async drivers."""
    parsed = make_url(url)
    driver = parsed.drivername
    if driver in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif driver in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def dialect_of(url: str) -> dialects.Dialect:
    """What the database at `url` can do, without connecting to it."""
    return dialects.named(make_url(normalise_url(url)).get_backend_name())


_PING = sa.text("SELECT 1")


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        echo: bool = False,
        cipher: SecretCipher | None = None,
    ) -> None:
        self.url = normalise_url(url)
        # Encrypts and decrypts the secret columns (store/cipher.py); without one they
        # can be neither read nor written (migrations and schema checks need none).
        self.cipher = cipher
        # What this database can do (locks, upserts, notifications): store/dialects/.
        # Nothing outside store/ asks which database it is, only what it can do.
        self.backend: dialects.Dialect = dialects.named(make_url(self.url).get_backend_name())
        # SQLite's own connection machinery below: one serialised writer, inline reads.
        self._sqlite = self.backend.name == "sqlite"
        kwargs: dict[str, Any] = {
            "echo": echo,
            # A database error's message would otherwise carry the statement's parameters
            # (access tokens, secrets) into the logs.
            "hide_parameters": True,
            "json_serializer": _json_dumps,
            "json_deserializer": _json_loads,
        }
        if self._sqlite:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = 0
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
            kwargs["pool_pre_ping"] = False
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._write_lock = asyncio.Lock() if self._sqlite else None
        self._writer: SqliteWriter | None = None
        self._read_engine: sa.Engine | None = None
        self.pool_size = pool_size
        _mark_writes(self.engine.sync_engine)
        attach(self.engine.sync_engine.dialect, cipher)
        if self._sqlite:
            self._install_sqlite_hooks(self.engine.sync_engine)
        else:
            # No pool_pre_ping (a round trip per checkout): a dead connection is found by
            # its first statement, and then the whole pool is recycled (store/faults.py).
            faults.install(self.engine.sync_engine)

    async def ping(self) -> None:
        """One round trip on a read connection; raises whatever the database raises."""
        async with self.read() as conn:
            await conn.execute(_PING)

    async def run_write(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `fn` in a write transaction and commit (rolled back if it raises)."""
        if not self._sqlite:
            async with faults.translated(), self.engine.begin() as conn:
                return await fn(conn)
        if self._writer is None:
            self._writer = SqliteWriter(self)
        return await self._writer.run(fn)

    @staticmethod
    def _install_sqlite_hooks(sync_engine: sa.Engine) -> None:
        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            if conn.get_execution_options().get("convoflow_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; commits on normal exit, rolls back on an exception."""
        if self._write_lock is not None:
            async with self._write_lock, self.engine.connect() as conn:
                conn = await conn.execution_options(convoflow_write=True)
                async with conn.begin():
                    yield conn
        else:
            async with faults.translated(), self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        if self._sqlite:
            # Inline on the event loop, on a plain sqlite3 connection: a keyset page or
            # a lookup by id takes well under a millisecond, less than the thread hops
            # aiosqlite makes for BEGIN, each statement and COMMIT.
            if self._read_engine is None:
                self._read_engine = _sqlite_sync_engine(
                    self.url, pool_size=self.pool_size, cipher=self.cipher
                )
            with self._read_engine.connect() as sync_conn:
                inline = ThreadConnection(self.engine, sync_conn)
                async with inline.begin():
                    yield inline
            return
        async with faults.translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    async def dispose(self) -> None:
        if self._writer is not None:
            await asyncio.to_thread(self._writer.stop)
            self._writer = None
        if self._read_engine is not None:
            self._read_engine.dispose()
            self._read_engine = None
        await self.engine.dispose()


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
        return self._proxied.execute(statement, parameters, execution_options=execution_options)

    async def exec_driver_sql(
        self, statement: str, parameters: Any = None, execution_options: Any = None
    ) -> Any:
        return self._proxied.exec_driver_sql(statement, parameters, execution_options)


def _sqlite_sync_engine(url: str, *, pool_size: int, cipher: SecretCipher | None) -> sa.Engine:
    """A plain pysqlite engine on the same file, with our pragmas and BEGIN handling."""
    engine = sa.create_engine(
        make_url(url).set(drivername="sqlite+pysqlite"),
        hide_parameters=True,
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"check_same_thread": False},
    )
    Database._install_sqlite_hooks(engine)
    _mark_writes(engine)
    attach(engine.dialect, cipher)
    return engine


class SqliteWriter:
    """The one thread that writes to a SQLite database, with its own event loop."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sync_engine = _sqlite_sync_engine(db.url, pool_size=1, cipher=db.cipher)
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
        conn = ThreadConnection(self.db.engine, self._connection)
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
