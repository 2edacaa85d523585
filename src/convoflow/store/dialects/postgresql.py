"""PostgreSQL: concurrent writers, so row locks and transaction-scoped advisory locks are
real; commits are announced with NOTIFY."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

_LOCK_KEY = sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))")
# unnest keeps the array's order, so the locks are taken in the order given.
_LOCK_KEYS = sa.text(
    "SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest(CAST(:keys AS text[])) AS k"
)
_NOTIFY = sa.text("SELECT pg_notify(:channel, :payload)")


class PostgreSQL:
    name = "postgresql"
    row_locks = True
    write_lanes = 4
    notifies = True
    embedded = False

    def insert_ignoring(self, table: sa.Table, index_elements: Sequence[str]) -> sa.Insert:
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))

    async def advisory_locks(self, conn: AsyncConnection, keys: Sequence[str]) -> None:
        if len(keys) == 1:
            await conn.execute(_LOCK_KEY, {"key": keys[0]})
        elif keys:
            await conn.execute(_LOCK_KEYS, {"keys": list(keys)})

    async def notify(self, conn: AsyncConnection, channel: str, payload: str) -> None:
        await conn.execute(_NOTIFY, {"channel": channel, "payload": payload})

    def listen_dsn(self, url: str) -> str:
        return url.replace("postgresql+asyncpg://", "postgresql://")


DIALECT = PostgreSQL()
