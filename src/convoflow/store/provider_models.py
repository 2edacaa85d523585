"""SQL for provider models (the LLMs a project's AI nodes call). Reads decrypt `api_key`
(EncryptedText); the API's views never include it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import provider_models


async def list_models(conn: AsyncConnection, project_id: str) -> list[sa.RowMapping]:
    result = await conn.execute(
        sa.select(provider_models)
        .where(provider_models.c.project_id == project_id)
        .order_by(provider_models.c.created_at, provider_models.c.id)
    )
    return list(result.mappings().all())


async def get_model(conn: AsyncConnection, model_id: str, project_id: str) -> sa.RowMapping | None:
    stmt = (
        sa.select(provider_models)
        .where(provider_models.c.id == model_id)
        .where(provider_models.c.project_id == project_id)
    )
    return (await conn.execute(stmt)).mappings().first()


async def get_model_by_name(
    conn: AsyncConnection, name: str, project_id: str
) -> sa.RowMapping | None:
    stmt = (
        sa.select(provider_models)
        .where(provider_models.c.name == name)
        .where(provider_models.c.project_id == project_id)
    )
    return (await conn.execute(stmt)).mappings().first()


async def insert_model(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sa.insert(provider_models), row)


async def update_model(conn: AsyncConnection, model_id: str, values: dict[str, Any]) -> None:
    await conn.execute(
        sa.update(provider_models).where(provider_models.c.id == model_id).values(values)
    )


async def delete_model(conn: AsyncConnection, model_id: str, project_id: str) -> bool:
    result = await conn.execute(
        sa.delete(provider_models)
        .where(provider_models.c.id == model_id)
        .where(provider_models.c.project_id == project_id)
    )
    return bool(result.rowcount)
