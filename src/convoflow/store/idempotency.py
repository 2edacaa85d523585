"""SQL for the stored results of requests sent with an `Idempotency-Key`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import idempotency_keys

# Built once (bind parameters named unlike the columns an INSERT writes).
_FIND = (
    sa.select(idempotency_keys)
    .where(idempotency_keys.c.project_id == sa.bindparam("b_project_id"))
    .where(idempotency_keys.c.key == sa.bindparam("b_key"))
    .where(idempotency_keys.c.route == sa.bindparam("b_route"))
)
_DELETE = sa.delete(idempotency_keys).where(idempotency_keys.c.id == sa.bindparam("b_id"))
_INSERT = sa.insert(idempotency_keys)


async def find(
    conn: AsyncConnection, project_id: str, key: str, route: str
) -> sa.RowMapping | None:
    result = await conn.execute(_FIND, {"b_project_id": project_id, "b_key": key, "b_route": route})
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def delete(conn: AsyncConnection, row_id: str) -> None:
    await conn.execute(_DELETE, {"b_id": row_id})


async def insert(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(_INSERT, row)
