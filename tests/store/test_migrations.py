"""The Alembic migrations create exactly the tables in store/schema.py, on both databases,
and can be rolled back and re-applied."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from convoflow.store.db import Database
from convoflow.store.migrate import downgrade, upgrade
from convoflow.store.schema import metadata


async def _schema_diff(url: str) -> list[Any]:
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:

            def compare(sync_conn: sa.Connection) -> list[Any]:
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return list(compare_metadata(context, metadata))

            return await conn.run_sync(compare)
    finally:
        await db.dispose()


async def _tables(url: str) -> set[str]:
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await db.dispose()


async def test_migrated_database_matches_schema(db_url: str) -> None:
    assert await _schema_diff(db_url) == []


async def test_downgrade_to_base_and_upgrade_again(db_url: str) -> None:
    import asyncio

    await asyncio.to_thread(downgrade, db_url, "base")
    assert await _tables(db_url) <= {"alembic_version"}
    await asyncio.to_thread(upgrade, db_url)
    assert set(metadata.tables) <= await _tables(db_url)
    assert await _schema_diff(db_url) == []
