"""SQL for projects, API keys and project secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import api_keys, projects, secrets

PROJECT_SCOPE = "project"


async def get_settings(conn: AsyncConnection, project_id: str) -> dict[str, Any]:
    result = await conn.execute(sa.select(projects.c.settings).where(projects.c.id == project_id))
    value = result.scalar()
    return dict(value or {})


async def merge_settings(conn: AsyncConnection, project_id: str, values: dict[str, Any]) -> None:
    """Set these settings, keeping the others."""
    merged = {**await get_settings(conn, project_id), **values}
    await conn.execute(
        sa.update(projects).where(projects.c.id == project_id).values(settings=merged)
    )


async def get_project_secrets(conn: AsyncConnection, project_id: str) -> dict[str, str]:
    result = await conn.execute(
        sa.select(secrets.c.name, secrets.c.value)
        .where(secrets.c.project_id == project_id)
        .where(secrets.c.scope == PROJECT_SCOPE)
    )
    return {row.name: row.value for row in result}


async def insert_project(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sa.insert(projects), row)


async def find_project(conn: AsyncConnection, name_or_id: str) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(projects).where(
            sa.or_(projects.c.id == name_or_id, projects.c.name == name_or_id)
        )
    )
    return result.mappings().first()


async def insert_api_key(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sa.insert(api_keys), row)


_FIND_API_KEY = (
    sa.select(api_keys)
    .where(api_keys.c.key_hash == sa.bindparam("key_hash"))
    .where(api_keys.c.revoked_at.is_(None))
)


async def find_api_key(conn: AsyncConnection, key_hash: str) -> sa.RowMapping | None:
    result = await conn.execute(_FIND_API_KEY, {"key_hash": key_hash})
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def list_api_keys(conn: AsyncConnection, project_id: str) -> list[sa.RowMapping]:
    """A project's keys, revoked ones included (without their hashes)."""
    result = await conn.execute(
        sa.select(*[c for c in api_keys.c if c.name != "key_hash"])
        .where(api_keys.c.project_id == project_id)
        .order_by(api_keys.c.created_at, api_keys.c.id)
    )
    return list(result.mappings().all())


async def list_all_api_keys(conn: AsyncConnection) -> list[sa.RowMapping]:
    """Every project's keys, with the project's name as `project` (the operator's list)."""
    result = await conn.execute(
        sa.select(
            *[c for c in api_keys.c if c.name != "key_hash"], projects.c.name.label("project")
        )
        .join(projects, projects.c.id == api_keys.c.project_id)
        .order_by(projects.c.name, api_keys.c.created_at, api_keys.c.id)
    )
    return list(result.mappings().all())


async def api_key_owner(
    conn: AsyncConnection, key_id: str, key_hash: str
) -> tuple[str, str] | None:
    """(id, project id) of the key whose id is `key_id` or whose hash is `key_hash`,
    revoked or not; None when there is none."""
    result = await conn.execute(
        sa.select(api_keys.c.id, api_keys.c.project_id).where(
            sa.or_(api_keys.c.id == key_id, api_keys.c.key_hash == key_hash)
        )
    )
    row = result.first()
    return (str(row.id), str(row.project_id)) if row is not None else None


async def revoke_api_key(
    conn: AsyncConnection, key_id: str, project_id: str, now: datetime
) -> bool:
    """Revoke the project's key `key_id` (kept revoked if it already was); False when
    the project has no such key."""
    result = await conn.execute(
        sa.select(api_keys.c.revoked_at)
        .where(api_keys.c.id == key_id)
        .where(api_keys.c.project_id == project_id)
    )
    row = result.first()
    if row is None:
        return False
    if row.revoked_at is None:
        await conn.execute(
            sa.update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now)
        )
    return True


async def upsert_secret(conn: AsyncConnection, row: dict[str, Any]) -> None:
    existing = await conn.execute(
        sa.select(secrets.c.id)
        .where(secrets.c.project_id == row["project_id"])
        .where(secrets.c.scope == row["scope"])
        .where(secrets.c.name == row["name"])
    )
    secret_id = existing.scalar()
    if secret_id is None:
        await conn.execute(sa.insert(secrets), row)
    else:
        await conn.execute(
            sa.update(secrets)
            .where(secrets.c.id == secret_id)
            .values(value=row["value"], updated_at=row["updated_at"])
        )
