"""Keyset ("cursor") pagination on `(created_at, id)`, newest first.

No OFFSET anywhere: a page is one index range scan starting at the cursor, so page 10,000
costs what page 1 costs. `after` walks towards older rows, `before` towards newer ones;
one extra row is fetched to tell whether the walk can go on.

Hot lists prebuild their page statements once (`KeysetQuery`): building a SQLAlchemy
statement and its cache key per request costs more than running it on SQLite.
"""

from __future__ import annotations

from collections.abc import Mapping
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


# Parameters of the prebuilt page statements (filters must use other names).
_K_CREATED_AT = "k_created_at"
_K_ID = "k_id"
_K_LIMIT = "k_limit"


@dataclass(frozen=True)
class KeysetQuery:
    """A filtered select on a table with `created_at` and `id`, prebuilt as its three
    page statements: newest first, older than a cursor (`after`), newer than a cursor
    (`before`, ascending). Execute with `keyset_page_of` and the filter's parameters."""

    first: sa.Select[Any]
    after: sa.Select[Any]
    before: sa.Select[Any]

    @classmethod
    def of(cls, stmt: sa.Select[Any], table: sa.Table) -> KeysetQuery:
        created_at = table.c.created_at
        row_id = table.c.id
        key = sa.tuple_(created_at, row_id)
        bound = sa.tuple_(
            sa.bindparam(_K_CREATED_AT, type_=UTCDateTime()),
            sa.bindparam(_K_ID, type_=sa.String()),
        )
        limit = sa.bindparam(_K_LIMIT, type_=sa.Integer())
        newest_first = (created_at.desc(), row_id.desc())
        return cls(
            first=stmt.order_by(*newest_first).limit(limit),
            after=stmt.where(key < bound).order_by(*newest_first).limit(limit),
            before=stmt.where(key > bound).order_by(created_at.asc(), row_id.asc()).limit(limit),
        )


async def keyset_page_of(
    conn: AsyncConnection,
    query: KeysetQuery,
    params: Mapping[str, Any],
    *,
    limit: int,
    after: Position | None = None,
    before: Position | None = None,
) -> KeysetPage:
    """One page of a prebuilt `query`; `params` are its filter parameters."""
    values = {**params, _K_LIMIT: limit + 1}
    if before is not None:
        values[_K_CREATED_AT] = before.created_at
        values[_K_ID] = before.id
        rows = list((await conn.execute(query.before, values)).mappings().all())
        return _backwards(rows, limit)
    if after is not None:
        values[_K_CREATED_AT] = after.created_at
        values[_K_ID] = after.id
        rows = list((await conn.execute(query.after, values)).mappings().all())
    else:
        rows = list((await conn.execute(query.first, values)).mappings().all())
    return _forwards(rows, limit, after is not None)


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
        return _backwards(rows, limit)
    if after is not None:
        stmt = stmt.where(key < _bound(after))
    stmt = stmt.order_by(created_at.desc(), row_id.desc())
    rows = list((await conn.execute(stmt.limit(limit + 1))).mappings().all())
    return _forwards(rows, limit, after is not None)


def _forwards(rows: list[sa.RowMapping], limit: int, from_cursor: bool) -> KeysetPage:
    extra = len(rows) > limit
    return KeysetPage(rows=rows[:limit], more_after=extra, more_before=from_cursor)


def _backwards(rows: list[sa.RowMapping], limit: int) -> KeysetPage:
    """Rows read ascending from a `before` cursor, flipped to newest first."""
    extra = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    return KeysetPage(rows=rows, more_after=True, more_before=extra)


def _bound(position: Position) -> sa.Tuple:
    return sa.tuple_(
        sa.literal(position.created_at, UTCDateTime()), sa.literal(position.id, sa.String())
    )
