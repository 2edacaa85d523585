"""What differs between SQLite and PostgreSQL, behind one small interface.

One module per database (`sqlite.py`, `postgresql.py`, after DBOS's `_sys_db_sqlite.py` /
`_sys_db_postgres.py` split), each exposing a `DIALECT` with the same members. The store
picks one per connection (`of(conn)`) or per database (`Database.backend`); nothing
outside `store/` asks which database it runs on, only what it can do. How a database's
connections are set up and its transactions run (SQLite's writer thread and inline reads,
PostgreSQL's pool and fault translation) is the dialect's too (`connections`):
`store/db.py: Database` holds what both share and never asks which one it has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.dialects import postgresql, sqlite
from convoflow.store.dialects.base import Connections, Dialect, EngineSetup, Listener

__all__ = [
    "Connections",
    "Dialect",
    "EngineSetup",
    "Listener",
    "for_driver",
    "named",
    "of",
    "per_dialect",
]

DIALECTS: dict[str, Dialect] = {d.name: d for d in (sqlite.DIALECT, postgresql.DIALECT)}


def named(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(
            f"unsupported database {name!r}; expected one of {sorted(DIALECTS)}"
        ) from None


def for_driver(driver: str) -> Dialect | None:
    """The dialect a URL's driver name (`postgres`, `sqlite+pysqlite`, ...) means."""
    return next((d for d in DIALECTS.values() if driver in d.drivers), None)


def of(conn: AsyncConnection) -> Dialect:
    return DIALECTS[conn.dialect.name]


def per_dialect(build: Callable[[Dialect], Any]) -> dict[str, Any]:
    """A statement built once per dialect (prebuilt: these run on hot paths), looked up
    by `conn.dialect.name`."""
    return {name: build(dialect) for name, dialect in DIALECTS.items()}
