"""Database connections and transactions for SQLite and PostgreSQL.

One `Database` per process.

`run_write(fn)` runs `fn(conn)` in one write transaction and commits; this is what the
group committer uses for every engine write. `read()` opens a read snapshot; `write()`
is a write transaction on the caller's loop, for the rare writes that do not go through
the committer. How each runs is the dialect's (`store/dialects/`): on SQLite a writer
thread on a plain sqlite3 connection (functions given to `run_write` must then only use
the connection: awaiting anything that lives on the caller's event loop from inside them
would deadlock) and inline reads; on PostgreSQL pooled asyncpg connections, where all
three raise `faults.DatabaseUnavailable` when the server cannot be reached or drops the
connection. This module holds what both share and never asks which one it has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from convoflow.store import dialects
from convoflow.store.appends import WROTE
from convoflow.store.cipher import SecretCipher, attach

T = TypeVar("T")
_READ_PREFIXES = ("SELECT", "WITH", "PRAGMA", "SAVEPOINT", "RELEASE")


def _mark_writes(sync_engine: sa.Engine) -> None:
    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Row locks taken by SELECT ... FOR UPDATE are no write: they only last until
        # the batch commits.
        if not statement.lstrip()[:9].upper().startswith(_READ_PREFIXES):
            conn.info[WROTE] = True


def _configure(sync_engine: sa.Engine, *, cipher: SecretCipher | None) -> None:
    _mark_writes(sync_engine)
    attach(sync_engine.dialect, cipher)


class JsonText(str):
    """A JSON column's value already serialised (`serialised`), bound as it is: a 2 MB
    definition serialised in a worker process is neither pickled back as a dict nor
    serialised again where the database call runs (the event loop on PostgreSQL)."""


def serialised(value: Any) -> JsonText:
    """`value` as JSON columns store it. Pure: may run in a worker process."""
    return JsonText(_json_dumps(value))


def _json_dumps(value: Any) -> str:
    if isinstance(value, JsonText):
        return value
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_loads(value: Any) -> Any:
    # SQLite hands back a bare JSON number stored in a JSON column as an int/float.
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value


_ENGINE_OPTIONS: dict[str, Any] = {
    # A database error's message would otherwise carry the statement's parameters
    # (access tokens, secrets) into the logs.
    "hide_parameters": True,
    "json_serializer": _json_dumps,
    "json_deserializer": _json_loads,
}

__all__ = ["WROTE", "Database", "dialect_of", "normalise_url"]


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` / `sqlite:///` URLs and pick the async drivers."""
    parsed = make_url(url)
    dialect = dialects.for_driver(parsed.drivername)
    if dialect is not None:
        parsed = parsed.set(drivername=dialect.async_driver)
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
        self.pool_size = pool_size
        setup = dialects.EngineSetup(
            url=self.url,
            pool_size=pool_size,
            options=_ENGINE_OPTIONS,
            configure=partial(_configure, cipher=cipher),
        )
        self.engine: AsyncEngine = create_async_engine(
            self.url, echo=echo, **_ENGINE_OPTIONS, **self.backend.pool_options(pool_size)
        )
        setup.configure(self.engine.sync_engine)
        self._connections = self.backend.connections(self.engine, setup)

    async def ping(self) -> None:
        """One round trip on a read connection; raises whatever the database raises."""
        async with self.read() as conn:
            await conn.execute(_PING)

    async def listen(
        self, channel: str, on_payload: Callable[[str], None], *, application_name: str
    ) -> dialects.Listener:
        """A connection of its own, outside the pool, that LISTENs on `channel` and calls
        `on_payload` with each payload (only where `backend.notifies`); raises if it cannot
        be opened. The caller closes it."""
        return await self.backend.listen(
            self.url, channel, on_payload, application_name=application_name
        )

    async def run_write(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `fn` in a write transaction and commit (rolled back if it raises)."""
        return await self._connections.run_write(fn)

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A write transaction; commits on normal exit, rolls back on an exception."""
        return self._connections.write()

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self._connections.read()

    async def dispose(self) -> None:
        await self._connections.dispose()
        await self.engine.dispose()
