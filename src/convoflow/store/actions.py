"""SQL for the action journal (external calls made by steps)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import action_journal


async def insert_journal(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(sa.insert(action_journal), rows)


async def get_journal(conn: AsyncConnection, key: str) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(action_journal).where(action_journal.c.idempotency_key == key)
    )
    return result.mappings().first()


async def get_journals(conn: AsyncConnection, keys: list[str]) -> list[sa.RowMapping]:
    """The journal entries of these keys (those that exist), in no particular order."""
    if not keys:
        return []
    result = await conn.execute(
        sa.select(
            action_journal.c.idempotency_key,
            action_journal.c.status,
            action_journal.c.request,
            action_journal.c.result,
        ).where(action_journal.c.idempotency_key.in_(keys))
    )
    return list(result.mappings())


async def complete_journal(
    conn: AsyncConnection, key: str, *, result: dict[str, Any], attempts: int, now: datetime
) -> bool:
    """Journal-after. Only a pending entry completes, so a duplicate completion is a no-op."""
    outcome = await conn.execute(
        sa.update(action_journal)
        .where(action_journal.c.idempotency_key == key)
        .where(action_journal.c.status == "pending")
        .values(status="done", result=result, attempts=attempts, completed_at=now)
    )
    return outcome.rowcount == 1


async def count_attempt(conn: AsyncConnection, key: str) -> None:
    await conn.execute(
        sa.update(action_journal)
        .where(action_journal.c.idempotency_key == key)
        .values(attempts=action_journal.c.attempts + 1)
    )
