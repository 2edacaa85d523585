"""What differs between SQLite and PostgreSQL, behind one small interface.

One module per database (`sqlite.py`, `postgresql.py`, after DBOS's `_sys_db_sqlite.py` /
`_sys_db_postgres.py` split), each exposing a `DIALECT` with the same members. The store
picks one per connection (`of(conn)`) or per database (`Database.backend`); nothing
outside `store/` asks which database it runs on, only what it can do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.dialects import postgresql, sqlite


class Dialect(Protocol):
    name: str
    # SELECT ... FOR UPDATE takes a row lock. SQLite has one writer at a time, so the
    # lock is implied and the clause is left out.
    row_locks: bool
    # Concurrent write transactions worth running at once (the committer's lanes).
    write_lanes: int
    # Other processes can be told of a commit (LISTEN/NOTIFY); else they poll.
    notifies: bool
    # The database is a file the process opens itself (no server): every process that
    # shares it must run on this machine.
    embedded: bool

    def insert_ignoring(self, table: sa.Table, index_elements: Sequence[str]) -> sa.Insert:
        """INSERT that skips a row whose `index_elements` already exist."""
        ...

    async def advisory_locks(self, conn: AsyncConnection, keys: Sequence[str]) -> None:
        """Hold a lock per key until the transaction ends (in the order given)."""
        ...

    async def notify(self, conn: AsyncConnection, channel: str, payload: str) -> None:
        """Tell listeners on `channel` when the transaction commits."""
        ...

    def listen_dsn(self, url: str) -> str:
        """The driver-level DSN a LISTEN connection opens (only if `notifies`)."""
        ...


DIALECTS: dict[str, Dialect] = {d.name: d for d in (sqlite.DIALECT, postgresql.DIALECT)}


def named(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(
            f"unsupported database {name!r}; expected one of {sorted(DIALECTS)}"
        ) from None


def of(conn: AsyncConnection) -> Dialect:
    return DIALECTS[conn.dialect.name]


def per_dialect(build: Callable[[Dialect], Any]) -> dict[str, Any]:
    """A statement built once per dialect (prebuilt: these run on hot paths), looked up
    by `conn.dialect.name`."""
    return {name: build(dialect) for name, dialect in DIALECTS.items()}
