"""SQL for project functions, their secrets and their invocation log."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import function_invocations, functions, secrets


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
