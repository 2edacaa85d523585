"""SQL for WhatsApp numbers. The secret columns are read only by `get_credentials_row`
(the channel and the webhook signature check); every other query leaves them out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import conversations, phone_numbers, triggers

SECRET_COLUMNS = ("access_token", "app_secret", "verify_token")
PUBLIC_COLUMNS = [c for c in phone_numbers.c if c.name not in SECRET_COLUMNS]


async def insert_phone_number(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sa.insert(phone_numbers), row)


async def update_phone_number(
    conn: AsyncConnection, number_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(
        sa.update(phone_numbers).where(phone_numbers.c.id == number_id).values(values)
    )


async def get_public(
    conn: AsyncConnection, phone_number_id: str, project_id: str | None = None
) -> sa.RowMapping | None:
    stmt = sa.select(*PUBLIC_COLUMNS).where(phone_numbers.c.phone_number_id == phone_number_id)
    if project_id is not None:
        stmt = stmt.where(phone_numbers.c.project_id == project_id)
    return (await conn.execute(stmt)).mappings().first()


async def get_by_config_id(
    conn: AsyncConnection, config_id: str, project_id: str
) -> sa.RowMapping | None:
    """A project's number by Kapso's WhatsApp config id (our id), or by Meta's
    phone_number_id (what users of convoflow more often have at hand)."""
    stmt = (
        sa.select(*PUBLIC_COLUMNS)
        .where(phone_numbers.c.project_id == project_id)
        .where(
            sa.or_(phone_numbers.c.id == config_id, phone_numbers.c.phone_number_id == config_id)
        )
    )
    return (await conn.execute(stmt)).mappings().first()


async def for_workflow(
    conn: AsyncConnection, workflow_id: str, project_id: str
) -> list[sa.RowMapping]:
    """The numbers whose `inbound_message` triggers start `workflow_id`."""
    stmt = (
        sa.select(*PUBLIC_COLUMNS)
        .where(phone_numbers.c.project_id == project_id)
        .where(
            phone_numbers.c.phone_number_id.in_(
                sa.select(triggers.c.phone_number_id)
                .where(triggers.c.workflow_id == workflow_id)
                .where(triggers.c.trigger_type == "inbound_message")
            )
        )
        .order_by(phone_numbers.c.created_at, phone_numbers.c.id)
    )
    return list((await conn.execute(stmt)).mappings().all())


async def owned_ids(
    conn: AsyncConnection, project_id: str, ids: list[str], *, config_ids: bool = False
) -> set[str]:
    """Those of `ids` that are phone_number_ids (with `config_ids`: our ids, Kapso's
    WhatsApp config ids) of numbers of `project_id`."""
    if not ids:
        return set()
    column = phone_numbers.c.id if config_ids else phone_numbers.c.phone_number_id
    stmt = (
        sa.select(column)
        .where(phone_numbers.c.project_id == project_id)
        .where(column.in_(sorted(set(ids))))
    )
    return {str(value) for value in (await conn.execute(stmt)).scalars()}


async def project_number_ids(conn: AsyncConnection, project_id: str, limit: int) -> list[str]:
    """Up to `limit` of the project's phone_number_ids, oldest first."""
    stmt = (
        sa.select(phone_numbers.c.phone_number_id)
        .where(phone_numbers.c.project_id == project_id)
        .order_by(phone_numbers.c.created_at, phone_numbers.c.id)
        .limit(limit)
    )
    return [str(value) for value in (await conn.execute(stmt)).scalars()]


async def count_for_project(conn: AsyncConnection, project_id: str) -> int:
    stmt = (
        sa.select(sa.func.count())
        .select_from(phone_numbers)
        .where(phone_numbers.c.project_id == project_id)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def number_of_latest_conversation(
    conn: AsyncConnection, project_id: str, wa_id: str
) -> str | None:
    """The number of the user's newest WhatsApp conversation in the project (an active
    one first; else an ended one: the user still knows the business by that number), if
    that number still belongs to the project."""
    ended = sa.case((conversations.c.status == "active", 0), else_=1)
    stmt = (
        sa.select(conversations.c.phone_number_id)
        .join(phone_numbers, phone_numbers.c.phone_number_id == conversations.c.phone_number_id)
        .where(conversations.c.project_id == project_id)
        .where(phone_numbers.c.project_id == project_id)
        .where(conversations.c.wa_id == wa_id)
        .where(conversations.c.channel == "whatsapp")
        .order_by(ended, conversations.c.created_at.desc(), conversations.c.id.desc())
        .limit(1)
    )
    value = (await conn.execute(stmt)).scalar()
    return str(value) if value is not None else None


async def get_credentials_row(conn: AsyncConnection, phone_number_id: str) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(phone_numbers).where(phone_numbers.c.phone_number_id == phone_number_id)
    )
    return result.mappings().first()


async def get_credentials_row_by_id(conn: AsyncConnection, number_id: str) -> sa.RowMapping | None:
    """A number with its secrets by our id of it (Kapso's WhatsApp config id)."""
    result = await conn.execute(sa.select(phone_numbers).where(phone_numbers.c.id == number_id))
    return result.mappings().first()


async def all_credentials_rows(conn: AsyncConnection) -> list[sa.RowMapping]:
    """Every number with its secrets (the signature check of a body naming no known
    number tries them all; there are few)."""
    return list((await conn.execute(sa.select(phone_numbers))).mappings().all())


async def list_public(
    conn: AsyncConnection,
    project_id: str,
    *,
    phone_number_id: str | None = None,
    business_account_id: str | None = None,
    name_contains: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[sa.RowMapping], int]:
    """One page (newest first) and the total count, for Kapso's page-based listing."""
    conditions: list[Any] = [phone_numbers.c.project_id == project_id]
    if phone_number_id is not None:
        conditions.append(phone_numbers.c.phone_number_id == phone_number_id)
    if business_account_id is not None:
        conditions.append(phone_numbers.c.business_account_id == business_account_id)
    if name_contains:
        conditions.append(phone_numbers.c.name.contains(name_contains, autoescape=True))
    if created_after is not None:
        conditions.append(phone_numbers.c.created_at >= created_after)
    if created_before is not None:
        conditions.append(phone_numbers.c.created_at <= created_before)
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(phone_numbers).where(*conditions))
    ).scalar_one()
    rows = (
        await conn.execute(
            sa.select(*PUBLIC_COLUMNS)
            .where(*conditions)
            .order_by(phone_numbers.c.created_at.desc(), phone_numbers.c.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    ).mappings()
    return list(rows.all()), int(total)
