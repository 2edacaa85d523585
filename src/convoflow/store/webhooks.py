"""SQL for project webhooks and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.listing import KeysetPage, Position, keyset_page
from convoflow.store.schema import webhook_deliveries, whatsapp_webhooks


async def insert_webhook(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sa.insert(whatsapp_webhooks), row)


async def get_webhook(
    conn: AsyncConnection, webhook_id: str, project_id: str
) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(whatsapp_webhooks)
        .where(whatsapp_webhooks.c.id == webhook_id)
        .where(whatsapp_webhooks.c.project_id == project_id)
    )
    return result.mappings().first()


async def update_webhook(conn: AsyncConnection, webhook_id: str, values: dict[str, Any]) -> None:
    await conn.execute(
        sa.update(whatsapp_webhooks).where(whatsapp_webhooks.c.id == webhook_id).values(values)
    )


async def delete_webhook(conn: AsyncConnection, webhook_id: str) -> None:
    await conn.execute(sa.delete(whatsapp_webhooks).where(whatsapp_webhooks.c.id == webhook_id))


async def active_webhooks(conn: AsyncConnection, project_id: str) -> list[sa.RowMapping]:
    result = await conn.execute(
        sa.select(whatsapp_webhooks)
        .where(whatsapp_webhooks.c.project_id == project_id)
        .where(whatsapp_webhooks.c.active.is_(True))
        .order_by(whatsapp_webhooks.c.created_at, whatsapp_webhooks.c.id)
    )
    return list(result.mappings().all())


async def list_webhooks(
    conn: AsyncConnection, project_id: str, *, kind: str | None, page: int, per_page: int
) -> tuple[list[sa.RowMapping], int]:
    conditions: list[Any] = [whatsapp_webhooks.c.project_id == project_id]
    if kind is not None:
        conditions.append(whatsapp_webhooks.c.kind == kind)
    total = (
        await conn.execute(
            sa.select(sa.func.count()).select_from(whatsapp_webhooks).where(*conditions)
        )
    ).scalar_one()
    result = await conn.execute(
        sa.select(whatsapp_webhooks)
        .where(*conditions)
        .order_by(whatsapp_webhooks.c.created_at.desc(), whatsapp_webhooks.c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(result.mappings().all()), int(total)


async def insert_deliveries(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(sa.insert(webhook_deliveries), rows)


async def get_delivery(conn: AsyncConnection, delivery_id: str) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
    )
    return result.mappings().first()


async def record_attempt(conn: AsyncConnection, delivery_id: str, values: dict[str, Any]) -> None:
    await conn.execute(
        sa.update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(values)
    )


async def delivery_page(
    conn: AsyncConnection,
    project_id: str,
    *,
    status: str | None = None,
    event: str | None = None,
    webhook_id: str | None = None,
    since: datetime | None = None,
    limit: int,
    after: Position | None = None,
    before: Position | None = None,
) -> KeysetPage:
    """One page of the project's delivery log, newest first."""
    d = webhook_deliveries
    stmt = sa.select(d).where(d.c.project_id == project_id)
    if status is not None:
        stmt = stmt.where(d.c.status == status)
    if event is not None:
        stmt = stmt.where(d.c.event == event)
    if webhook_id is not None:
        stmt = stmt.where(d.c.webhook_id == webhook_id)
    if since is not None:
        stmt = stmt.where(d.c.created_at >= since)
    return await keyset_page(conn, stmt, d, limit=limit, after=after, before=before)
