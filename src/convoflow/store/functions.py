"""SQL for project functions, their secrets and their invocation log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store import dialects
from convoflow.store.schema import function_invocations, function_kv, functions, secrets


async def list_functions(conn: AsyncConnection, project_id: str) -> list[sa.RowMapping]:
    result = await conn.execute(
        sa.select(functions)
        .where(functions.c.project_id == project_id)
        .order_by(functions.c.created_at.desc(), functions.c.id.desc())
    )
    return list(result.mappings().all())


async def get_function(
    conn: AsyncConnection, function_id: str, project_id: str | None
) -> sa.RowMapping | None:
    stmt = sa.select(functions).where(functions.c.id == function_id)
    if project_id is not None:
        stmt = stmt.where(functions.c.project_id == project_id)
    return (await conn.execute(stmt)).mappings().first()


async def slug_owner(
    conn: AsyncConnection, project_id: str, slug: str, exclude_id: str | None
) -> str | None:
    stmt = (
        sa.select(functions.c.id)
        .where(functions.c.project_id == project_id)
        .where(functions.c.slug == slug)
    )
    if exclude_id is not None:
        stmt = stmt.where(functions.c.id != exclude_id)
    value = (await conn.execute(stmt.limit(1))).scalar()
    return str(value) if value is not None else None


async def insert_function(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sa.insert(functions), row)


async def update_function(
    conn: AsyncConnection, function_id: str, values: dict[str, Any], expected_lock: int | None
) -> bool:
    stmt = sa.update(functions).where(functions.c.id == function_id)
    if expected_lock is not None:
        stmt = stmt.where(functions.c.lock_version == expected_lock)
    result = await conn.execute(stmt.values(values))
    return bool(result.rowcount == 1)


async def delete_function(conn: AsyncConnection, function_id: str) -> None:
    await conn.execute(sa.delete(secrets).where(secrets.c.scope == function_id))
    await conn.execute(sa.delete(function_kv).where(function_kv.c.function_id == function_id))
    # The invocation log goes with the function (its rows reference it); Kapso keeps it.
    await conn.execute(
        sa.delete(function_invocations).where(function_invocations.c.function_id == function_id)
    )
    await conn.execute(sa.delete(functions).where(functions.c.id == function_id))


async def list_secrets(conn: AsyncConnection, project_id: str, scope: str) -> list[sa.RowMapping]:
    result = await conn.execute(
        sa.select(secrets.c.name, secrets.c.value_type)
        .where(secrets.c.project_id == project_id)
        .where(secrets.c.scope == scope)
        .order_by(secrets.c.name)
    )
    return list(result.mappings().all())


async def delete_secret(conn: AsyncConnection, project_id: str, scope: str, name: str) -> bool:
    result = await conn.execute(
        sa.delete(secrets)
        .where(secrets.c.project_id == project_id)
        .where(secrets.c.scope == scope)
        .where(secrets.c.name == name)
    )
    return bool(result.rowcount)


async def insert_invocation(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sa.insert(function_invocations), row)


async def list_invocations(
    conn: AsyncConnection, function_id: str, *, status: str | None, limit: int
) -> list[sa.RowMapping]:
    stmt = sa.select(function_invocations).where(function_invocations.c.function_id == function_id)
    if status is not None:
        stmt = stmt.where(function_invocations.c.status == status)
    stmt = stmt.order_by(
        function_invocations.c.created_at.desc(), function_invocations.c.id.desc()
    ).limit(limit)
    return list((await conn.execute(stmt)).mappings().all())


async def function_secrets(
    conn: AsyncConnection, project_id: str, function_id: str
) -> dict[str, Any]:
    """A function's secrets as its `env` sees them: text as text, JSON parsed."""
    result = await conn.execute(
        sa.select(secrets.c.name, secrets.c.value, secrets.c.value_type)
        .where(secrets.c.project_id == project_id)
        .where(secrets.c.scope == function_id)
    )
    return {
        row.name: json.loads(row.value) if row.value_type == "json" else row.value for row in result
    }


async def kv_get(conn: AsyncConnection, function_id: str, key: str) -> str | None:
    value = (
        await conn.execute(
            sa.select(function_kv.c.value)
            .where(function_kv.c.function_id == function_id)
            .where(function_kv.c.key == key)
        )
    ).scalar()
    return None if value is None else str(value)


async def kv_delete(conn: AsyncConnection, function_id: str, key: str) -> None:
    await conn.execute(
        sa.delete(function_kv)
        .where(function_kv.c.function_id == function_id)
        .where(function_kv.c.key == key)
    )


async def kv_put(
    conn: AsyncConnection, function_id: str, key: str, value: str, now: datetime
) -> None:
    # Delete + insert in one transaction: the same on every dialect.
    await kv_delete(conn, function_id, key)
    await conn.execute(
        sa.insert(function_kv),
        {"function_id": function_id, "key": key, "value": value, "updated_at": now},
    )


async def kv_increment(
    conn: AsyncConnection, function_id: str, key: str, by: int, now: datetime
) -> int | None:
    """Add `by` to the integer stored at `key` (a missing key counts as 0) in one
    statement, so concurrent increments never lose one; None when the stored value is
    not an integer (it is left as it is)."""
    dialect = dialects.of(conn)
    table = function_kv
    stmt = (
        dialect.insert_updating(
            table,
            ["function_id", "key"],
            {
                "value": sa.cast(sa.cast(table.c.value, sa.BigInteger) + by, sa.Text),
                "updated_at": now,
            },
            where=dialect.is_integer_text(table.c.value),
        )
        .values(function_id=function_id, key=key, value=str(by), updated_at=now)
        .returning(table.c.value)
    )
    value = (await conn.execute(stmt)).scalar()
    return None if value is None else int(value)


async def kv_list(conn: AsyncConnection, function_id: str, prefix: str, limit: int) -> list[str]:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    result = await conn.execute(
        sa.select(function_kv.c.key)
        .where(function_kv.c.function_id == function_id)
        .where(function_kv.c.key.like(escaped + "%", escape="\\"))
        .order_by(function_kv.c.key)
        .limit(limit)
    )
    return [str(key) for key in result.scalars()]
