"""The dialect seam (store/dialects/): each database's differences behind one interface."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from convoflow.store import dialects
from convoflow.store.db import Database, dialect_of
from convoflow.store.schema import jobs


def test_an_unknown_database_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unsupported database 'mysql'; expected one of"):
        dialects.named("mysql")


def test_a_url_names_its_dialect_without_connecting() -> None:
    """`convoflow serve --no-worker` warns for a database file only this machine shares."""
    assert dialect_of("sqlite:///tmp/x.db").embedded is True
    assert dialect_of("postgresql://u@127.0.0.1:1/x").embedded is False
    assert dialect_of("postgres://u@127.0.0.1:1/x").name == "postgresql"


async def test_advisory_locks_hold_until_commit(db_url: str) -> None:
    """On PostgreSQL another transaction cannot take a held key; on SQLite (one writer)
    the call is a no-op that must not fail."""
    db = Database(db_url, pool_size=2)
    try:
        async with db.engine.connect() as holder, holder.begin():
            await db.backend.advisory_locks(holder, ["k:1", "k:2"])
            if db.backend.row_locks:
                async with db.engine.connect() as other:
                    taken = await other.scalar(
                        sa.text("SELECT pg_try_advisory_xact_lock(hashtext('k:2'))")
                    )
                    assert taken is False
    finally:
        await db.dispose()


async def test_insert_ignoring_skips_an_existing_key(db_url: str) -> None:
    db = Database(db_url, pool_size=1)
    stmt = db.backend.insert_ignoring(jobs, ["dedupe_key"])
    now = datetime.now(UTC)
    row = {"kind": "timer", "dedupe_key": "d1", "payload": {}, "run_at": now, "created_at": now}
    try:
        async with db.engine.begin() as conn:
            first = await conn.execute(stmt, row)
            again = await conn.execute(stmt, dict(row, kind="other"))
            assert (first.rowcount, again.rowcount) == (1, 0)
    finally:
        await db.dispose()


async def test_a_listener_hears_notifications_and_sees_its_connection_lost(db_url: str) -> None:
    """The LISTEN connection is the store's (engine/notifier.py only decides what a payload
    means): it hears a committed NOTIFY and reports being cut off. SQLite has none."""
    db = Database(db_url, pool_size=2)
    try:
        if not db.backend.notifies:
            with pytest.raises(ValueError, match="SQLite has no LISTEN"):
                await db.listen("ch", print, application_name="test-listen")
            return
        heard: asyncio.Queue[str] = asyncio.Queue()
        listener = await db.listen("test_ch", heard.put_nowait, application_name="test-listen")
        try:
            assert await listener.lost_within(0.01) is False
            await listener.check(5)
            async with db.write() as conn:
                await db.backend.notify(conn, "test_ch", "hello")
            assert await asyncio.wait_for(heard.get(), 10) == "hello"
            async with db.write() as conn:
                await conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name = 'test-listen'"
                        " AND datname = current_database()"
                    )
                )
            assert await listener.lost_within(10) is True
        finally:
            listener.close()
    finally:
        await db.dispose()
