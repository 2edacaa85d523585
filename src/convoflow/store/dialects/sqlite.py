"""SQLite: one writer at a time (store/db.py serialises writes), so row and advisory locks
are implied; no cross-process notifications (other processes poll)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


class SQLite:
    name = "sqlite"
    row_locks = False
    write_lanes = 1
    notifies = False
    embedded = True

    def insert_ignoring(self, table: sa.Table, index_elements: Sequence[str]) -> sa.Insert:
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))

    async def advisory_locks(self, conn: AsyncConnection, keys: Sequence[str]) -> None:
        return None

    async def notify(self, conn: AsyncConnection, channel: str, payload: str) -> None:
        return None

    def listen_dsn(self, url: str) -> str:
        raise ValueError("expected a PostgreSQL URL: SQLite has no LISTEN")


DIALECT = SQLite()
