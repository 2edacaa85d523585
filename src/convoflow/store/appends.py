"""Writes held until the transaction is about to commit, then run with one executemany
per statement: append-only rows (execution events).

On PostgreSQL every statement is a round trip, and under group commit a transaction
carries dozens of advances, each inserting its execution's events: holding them turns
one insert per advance into one per batch (`Dialect.defers_appends`; SQLite writes at
once, it has no round trips to save). Only writes nobody reads back inside the same
transaction are held, and a reader of them calls `flush` first. The transactions'
owners (`store/dialects/postgresql.py`) flush before they commit; a transaction that
rolls back drops its held rows with it (the buffer belongs to one transaction object, so
a pooled connection's next transaction starts empty).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

_KEY = "convoflow_appends"
# conn.info key set to True by every data-changing statement (store/db.py marks them, and
# `write` marks a held one): the group committer tells from it whether a failed
# operation left anything in the shared transaction (engine/committer.py).
WROTE = "convoflow_wrote"


async def write(
    conn: AsyncConnection, stmt: sa.Executable, rows: list[dict[str, Any]], *, hold: bool
) -> None:
    """Run `stmt` for `rows` now, or (`hold`: the dialect's `defers_appends`) just before
    the transaction commits."""
    if not rows:
        return
    if not hold:
        await conn.execute(stmt, rows)
        return
    _defer(conn, stmt, rows)
    conn.info[WROTE] = True  # a held row is a write all the same


def _defer(conn: AsyncConnection, stmt: sa.Executable, rows: list[dict[str, Any]]) -> None:
    transaction = conn.get_transaction()
    held: tuple[Any, dict[sa.Executable, list[dict[str, Any]]]] | None = conn.info.get(_KEY)
    if held is None or held[0] is not transaction:
        held = (transaction, {})
        conn.info[_KEY] = held
    held[1].setdefault(stmt, []).extend(rows)


async def flush(conn: AsyncConnection) -> None:
    """Insert every row held in this transaction (one executemany per statement)."""
    held = conn.info.pop(_KEY, None)
    if held is None or held[0] is not conn.get_transaction():
        return  # nothing held, or held by a transaction that rolled back
    for stmt, rows in held[1].items():
        await conn.execute(stmt, rows)
