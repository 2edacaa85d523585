"""Keyset ("cursor") pagination on `(created_at, id)`, newest first.

No OFFSET anywhere: a page is one index range scan starting at the cursor, so page 10,000
costs what page 1 costs. `after` walks towards older rows, `before` towards newer ones;
one extra row is fetched to tell whether the walk can go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.types import UTCDateTime


@dataclass(frozen=True)
class Position:
    """Where a page starts or ends: the sort key of one row."""

    created_at: datetime
    id: str


@dataclass(frozen=True)
class KeysetPage:
    rows: list[sa.RowMapping]
    # Rows exist beyond this page in the direction of travel ("after" = older).
    more_after: bool
    # Rows exist on the other side (newer than the first row of this page).
    more_before: bool


async def keyset_page(
    conn: AsyncConnection,
    stmt: sa.Select[Any],
    table: sa.Table,
    *,
    limit: int,
    after: Position | None = None,
    before: Position | None = None,
) -> KeysetPage:
    """Run `stmt` (a filtered select on `table`) as one page, newest first."""
    created_at = table.c.created_at
    row_id = table.c.id
    key = sa.tuple_(created_at, row_id)
    if before is not None:
        # Walk towards newer rows: ascending from the cursor, then flip.
        stmt = stmt.where(key > _bound(before)).order_by(created_at.asc(), row_id.asc())
        rows = list((await conn.execute(stmt.limit(limit + 1))).mappings().all())
        extra = len(rows) > limit
        rows = rows[:limit]
        rows.reverse()
        return KeysetPage(rows=rows, more_after=True, more_before=extra)
    if after is not None:
        stmt = stmt.where(key < _bound(after))
    stmt = stmt.order_by(created_at.desc(), row_id.desc())
    rows = list((await conn.execute(stmt.limit(limit + 1))).mappings().all())
    extra = len(rows) > limit
    return KeysetPage(rows=rows[:limit], more_after=extra, more_before=after is not None)


def _bound(position: Position) -> sa.Tuple:
    return sa.tuple_(
        sa.literal(position.created_at, UTCDateTime()), sa.literal(position.id, sa.String())
    )
