"""The Alembic migrations create exactly the tables in store/schema.py, on both databases,
and can be rolled back and re-applied."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
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
    await asyncio.to_thread(downgrade, db_url, "base")
    assert await _tables(db_url) <= {"alembic_version"}
    await asyncio.to_thread(upgrade, db_url)
    assert set(metadata.tables) <= await _tables(db_url)
    assert await _schema_diff(db_url) == []


async def _outbox_rows(url: str) -> list[tuple[str, str, Any]]:
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            result = await conn.execute(
                sa.text("SELECT id, status, uncertain_since FROM outbox ORDER BY id")
            )
            return [(str(r[0]), str(r[1]), r[2]) for r in result]
    finally:
        await db.dispose()


async def _columns(url: str, table: str) -> set[str]:
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(
                lambda c: {col["name"] for col in sa.inspect(c).get_columns(table)}
            )
    finally:
        await db.dispose()


async def _insert_outbox_row(url: str, outbox_id: str, status: str) -> None:
    # Raw SQL: schema.py describes head, and this row is written by 0003-era code.
    now = datetime(2026, 1, 1, tzinfo=UTC)
    db = Database(url, pool_size=1)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO projects (id, name, settings, created_at, updated_at) "
                    "VALUES (:id, :id, '{}', :now, :now)"
                ),
                {"id": f"p-{outbox_id}", "now": now},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO outbox (id, project_id, channel, idempotency_key, message,"
                    " status, attempts, next_attempt_at, created_at) VALUES (:id, :p,"
                    " 'whatsapp', :id, '{}', :status, 1, :now, :now)"
                ),
                {"id": outbox_id, "p": f"p-{outbox_id}", "status": status, "now": now},
            )
    finally:
        await db.dispose()


async def test_database_at_0003_gains_uncertain_since_and_keeps_its_outbox(db_url: str) -> None:
    """A database migrated before the crash-reconcile work (0001..0003) must get the
    column from a new migration, not from an edited 0001 it has already run."""
    await asyncio.to_thread(downgrade, db_url, "0003")
    assert "uncertain_since" not in await _columns(db_url, "outbox")
    await _insert_outbox_row(db_url, "o-1", "sending")

    await asyncio.to_thread(upgrade, db_url)
    assert await _outbox_rows(db_url) == [("o-1", "sending", None)]
    assert await _schema_diff(db_url) == []

    # Rolling back: a held row goes back to `sending`, which 0003-era code recovers.
    await _insert_outbox_row(db_url, "o-2", "uncertain")
    await asyncio.to_thread(downgrade, db_url, "0003")
    assert "uncertain_since" not in await _columns(db_url, "outbox")
    db = Database(db_url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            result = await conn.execute(sa.text("SELECT id, status FROM outbox ORDER BY id"))
            assert [(str(r[0]), str(r[1])) for r in result] == [
                ("o-1", "sending"),
                ("o-2", "sending"),
            ]
    finally:
        await db.dispose()


_STATUS_ROW = (
    "INSERT INTO message_statuses (id, provider_message_id, status, phone_number_id, payload,"
    " created_at) VALUES (:id, :wamid, :status, :number, '{}', :now)"
)


async def _execute(url: str, *statements: tuple[str, dict[str, Any]]) -> None:
    db = Database(url, pool_size=1)
    try:
        async with db.engine.begin() as conn:
            for sql, params in statements:
                await conn.execute(sa.text(sql), params)
    finally:
        await db.dispose()


async def _statuses(url: str) -> list[tuple[str, ...]]:
    scoped = ", project_id" if "project_id" in await _columns(url, "message_statuses") else ""
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            result = await conn.execute(
                sa.text(f"SELECT id, provider_message_id, status{scoped} FROM message_statuses")
            )
            return sorted(tuple(str(v) for v in r) for r in result)
    finally:
        await db.dispose()


async def test_0012_gives_receipts_the_project_of_their_number_or_message(db_url: str) -> None:
    """Receipts stored while they were unique per (wamid, status) across projects get a
    project (their number's, else their message's); one that belongs to nothing goes.
    Downgrading keeps the earliest of receipts two projects hold for one (wamid, status)."""
    await asyncio.to_thread(downgrade, db_url, "0011")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = datetime(2026, 1, 2, tzinfo=UTC)
    project = (
        "INSERT INTO projects (id, name, settings, created_at, updated_at)"
        " VALUES (:id, :id, '{}', :now, :now)"
    )
    await _execute(
        db_url,
        (project, {"id": "p-a", "now": now}),
        (project, {"id": "p-b", "now": now}),
        (
            "INSERT INTO phone_numbers (id, project_id, phone_number_id, access_token,"
            " inbound_processing_enabled, created_at, updated_at)"
            " VALUES ('n-a', 'p-a', 'N-A', 'token', true, :now, :now)",
            {"now": now},
        ),
        (
            "INSERT INTO conversations (id, project_id, channel, status, metadata,"
            " messages_count, created_at, updated_at)"
            " VALUES ('c-b', 'p-b', 'whatsapp', 'active', '{}', 1, :now, :now)",
            {"now": now},
        ),
        (
            "INSERT INTO messages (id, project_id, conversation_id, direction, message_type,"
            " content, status, provider_message_id, created_at, updated_at) VALUES"
            " ('m-b', 'p-b', 'c-b', 'outbound', 'text', '{}', 'sent', 'W-B', :now, :now)",
            {"now": now},
        ),
        (_STATUS_ROW, {"id": "s1", "wamid": "W-A", "status": "sent", "number": "N-A", "now": now}),
        (_STATUS_ROW, {"id": "s2", "wamid": "W-B", "status": "read", "number": "gone", "now": now}),
        (_STATUS_ROW, {"id": "s3", "wamid": "W-X", "status": "sent", "number": "gone", "now": now}),
    )

    await asyncio.to_thread(upgrade, db_url)
    assert await _statuses(db_url) == [("s1", "W-A", "sent", "p-a"), ("s2", "W-B", "read", "p-b")]
    assert await _schema_diff(db_url) == []

    theirs = "INSERT INTO message_statuses (id, project_id, provider_message_id, status, payload,"
    theirs += " created_at) VALUES ('s4', 'p-b', 'W-A', 'sent', '{}', :now)"
    await _execute(db_url, (theirs, {"now": later}))
    await asyncio.to_thread(downgrade, db_url, "0011")
    assert await _statuses(db_url) == [("s1", "W-A", "sent"), ("s2", "W-B", "read")]


async def test_0013_messages_share_a_wamid_across_projects_until_downgraded(db_url: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = datetime(2026, 1, 2, tzinfo=UTC)
    statements: list[tuple[str, dict[str, Any]]] = []
    for project, at in (("p-a", now), ("p-b", later)):
        params = {"p": project, "c": f"c-{project}", "m": f"m-{project}", "now": at}
        statements += [
            (
                "INSERT INTO projects (id, name, settings, created_at, updated_at)"
                " VALUES (:p, :p, '{}', :now, :now)",
                params,
            ),
            (
                "INSERT INTO conversations (id, project_id, channel, status, metadata,"
                " messages_count, created_at, updated_at)"
                " VALUES (:c, :p, 'whatsapp', 'active', '{}', 1, :now, :now)",
                params,
            ),
            (
                "INSERT INTO messages (id, project_id, conversation_id, direction,"
                " message_type, content, status, provider_message_id, created_at, updated_at)"
                " VALUES (:m, :p, :c, 'inbound', 'text', '{}', 'received', 'W', :now, :now)",
                params,
            ),
        ]
    await _execute(db_url, *statements)  # both stored: the key is per project
    await asyncio.to_thread(downgrade, db_url, "0012")
    db = Database(db_url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            result = await conn.execute(sa.text("SELECT id FROM messages"))
            assert [str(r[0]) for r in result] == ["m-p-a"]  # the earliest
    finally:
        await db.dispose()
    await asyncio.to_thread(upgrade, db_url)
    assert await _schema_diff(db_url) == []
