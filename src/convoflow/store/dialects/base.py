"""The interface every dialect module implements (`Dialect`, with the `Listener` its
`listen` opens), and what `store/db.py` gives a dialect to set up its connections with
(`EngineSetup`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")


@dataclass(frozen=True)
class EngineSetup:
    """What every SQLAlchemy engine of one `Database` is made with, whatever the dialect:
    a dialect that opens engines of its own (SQLite's writer and inline readers) builds
    them from this too."""

    url: str
    pool_size: int
    # create_engine options (parameters hidden from errors, JSON codecs).
    options: dict[str, Any]
    # Event hooks on a sync engine: write marking (engine/committer.py), secret columns.
    configure: Callable[[sa.Engine], None]


class Connections(Protocol):
    """How one database's transactions run; `Database` delegates to it."""

    async def run_write(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`fn(conn)` in one write transaction, committed (rolled back if it raises)."""
        ...

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A write transaction on the caller's loop."""
        ...

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A read transaction."""
        ...

    async def dispose(self) -> None:
        """Close what `connections` opened beyond the engine."""
        ...


class Listener(Protocol):
    """An open LISTEN connection (`Dialect.listen`); whoever opened it closes it."""

    async def lost_within(self, seconds: float) -> bool:
        """True once the connection is lost; False if it still stands after `seconds`."""
        ...

    async def check(self, seconds: float) -> None:
        """One round trip on the connection, answered within `seconds`; raises if it
        is dead (or too slow)."""
        ...

    def close(self) -> None: ...


class OnConflictInserts:
    """INSERT ... ON CONFLICT, written once: SQLite's and PostgreSQL's constructs take the
    same arguments; a dialect names its own `insert` function."""

    insert_construct: Callable[[sa.Table], Any]

    def insert_ignoring(self, table: sa.Table, index_elements: Sequence[str]) -> sa.Insert:
        statement: sa.Insert = self.insert_construct(table).on_conflict_do_nothing(
            index_elements=list(index_elements)
        )
        return statement

    def insert_updating(
        self,
        table: sa.Table,
        index_elements: Sequence[str],
        set_: Mapping[str, Any],
        where: sa.ColumnElement[bool] | None = None,
    ) -> sa.Insert:
        statement: sa.Insert = self.insert_construct(table).on_conflict_do_update(
            index_elements=list(index_elements), set_=dict(set_), where=where
        )
        return statement


class Dialect(Protocol):
    name: str
    # SELECT ... FOR UPDATE takes a row lock. SQLite has one writer at a time, so the
    # lock is implied and the clause is left out.
    row_locks: bool
    # Concurrent write transactions worth running at once (the committer's lanes).
    write_lanes: int
    # Other processes can be told of a commit (LISTEN/NOTIFY); else they poll.
    notifies: bool
    # Every statement is a round trip to a server: append-only rows (execution events)
    # are held until the transaction is about to commit and inserted in one executemany
    # (store/appends.py). SQLite runs in the process, so it inserts them at once.
    defers_appends: bool
    # A data-changing statement may sit in a WITH clause of another (PostgreSQL), so two
    # writes cost one round trip (the timer delete rides on the compare-and-set update).
    writes_in_cte: bool
    # The database is a file the process opens itself (no server): every process that
    # shares it must run on this machine.
    embedded: bool
    # URL driver names that mean this database, and the async driver we run it with.
    drivers: tuple[str, ...]
    async_driver: str

    def insert_ignoring(self, table: sa.Table, index_elements: Sequence[str]) -> sa.Insert:
        """INSERT that skips a row whose `index_elements` already exist."""
        ...

    def insert_updating(
        self,
        table: sa.Table,
        index_elements: Sequence[str],
        set_: Mapping[str, Any],
        where: sa.ColumnElement[bool] | None = None,
    ) -> sa.Insert:
        """INSERT that, when a row with these `index_elements` exists, updates it with
        `set_` instead (only where `where` holds: else neither happens)."""
        ...

    def is_integer_text(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """`column` (text) holds a decimal integer of at most 18 digits, maybe negative."""
        ...

    async def advisory_locks(self, conn: AsyncConnection, keys: Sequence[str]) -> None:
        """Hold a lock per key until the transaction ends (in the order given)."""
        ...

    async def notify(self, conn: AsyncConnection, channel: str, payload: str) -> None:
        """Tell listeners on `channel` when the transaction commits."""
        ...

    async def listen(
        self, url: str, channel: str, on_payload: Callable[[str], None], *, application_name: str
    ) -> Listener:
        """A connection of its own to the database at `url` that LISTENs on `channel`
        and calls `on_payload` with each payload (only if `notifies`); raises if it
        cannot be opened."""
        ...

    def pool_options(self, pool_size: int) -> dict[str, Any]:
        """create_async_engine's pool options for a pool of `pool_size`."""
        ...

    def connections(self, engine: AsyncEngine, setup: EngineSetup) -> Connections:
        """Install this database's hooks on `engine` and run its transactions."""
        ...
