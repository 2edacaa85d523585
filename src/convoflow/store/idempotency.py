"""SQL for stored responses to requests sent with an `Idempotency-Key`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import idempotency_keys


async def find(
    conn: AsyncConnection, project_id: str, key: str, route: str
) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(idempotency_keys)
        .where(idempotency_keys.c.project_id == project_id)
        .where(idempotency_keys.c.key == key)
        .where(idempotency_keys.c.route == route)
    )
    return result.mappings().first()


async def delete(conn: AsyncConnection, row_id: str) -> None:
    await conn.execute(sa.delete(idempotency_keys).where(idempotency_keys.c.id == row_id))


async def insert(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sa.insert(idempotency_keys), row)
