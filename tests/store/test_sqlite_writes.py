"""Plain writes in SQLite's writer thread go straight to sqlite3 once their statement is
known (store/dialects/sqlite_writes.py): the rows written, the row counts, the errors and
the statement listeners are what SQLAlchemy gives. On PostgreSQL the same test checks the
same results through SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.db import Database
from convoflow.store.dialects.sqlite_writes import WriteResult
from convoflow.store.schema import projects

NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
_INSERT = projects.insert()
_RENAME = (
    projects.update()
    .where(projects.c.id == sa.bindparam("b_id"))
    .values(name=sa.bindparam("b_name"), settings=sa.bindparam("b_settings"), updated_at=NOW)
)
_RENAME_MANY = (
    projects.update()
    .where(projects.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    .values(name=sa.func.upper(projects.c.name))
)


def project(id_: str, **extra: Any) -> dict[str, Any]:
    return {"id": id_, "name": f"name {id_}", "created_at": NOW, "updated_at": NOW, **extra}


async def _writes(conn: AsyncConnection) -> list[Any]:
    results = []
    for n in range(3):  # the first sight goes through SQLAlchemy, the next ones do not
        results.append(await conn.execute(_INSERT, project(f"p{n}", settings={"k": [n, "é"]})))
    for batch in ("a", "b"):  # executemany: a list of rows with the same keys
        rows = [project(f"{batch}{n}", settings={}) for n in range(3)]
        results.append(await conn.execute(_INSERT, rows))
    for id_ in ("p1", "p2", "missing"):
        params = {"b_id": id_, "b_name": f"renamed {id_}", "b_settings": {"renamed": True}}
        results.append(await conn.execute(_RENAME, params))
    for id_ in ("d1", "d2", "d3"):  # no settings: its Python-side default (dict) applies
        results.append(await conn.execute(_INSERT, project(id_)))
    for _ in range(2):  # expanding IN: always through SQLAlchemy
        results.append(await conn.execute(_RENAME_MANY, {"b_ids": ["a0", "a1"]}))
    return results


async def test_writes_are_what_sqlalchemy_writes(db_url: str) -> None:
    db = Database(db_url, pool_size=1)
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split()[0])

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", listen)
    try:
        results = await db.run_write(_writes)
        async with db.read() as conn:
            rows = {r["id"]: r for r in (await conn.execute(sa.select(projects))).mappings().all()}
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", listen)
        await db.dispose()
    many = 3 if db_url.startswith("sqlite") else -1  # asyncpg counts no executemany rows
    assert [r.rowcount for r in results] == [1, 1, 1, many, many, 1, 1, 0, 1, 1, 1, 2, 2]
    assert rows["p0"]["settings"] == {"k": [0, "é"]} and rows["p0"]["name"] == "name p0"
    assert rows["p2"]["settings"] == {"renamed": True} and rows["p2"]["name"] == "renamed p2"
    assert rows["p2"]["created_at"] == rows["p2"]["updated_at"] == NOW
    assert [rows[f"d{n}"]["settings"] for n in (1, 2, 3)] == [{}, {}, {}]
    assert rows["a0"]["name"] == "NAME A0" and rows["b0"]["name"] == "name b0"
    assert len(rows) == 12
    assert seen.count("INSERT") == 3 + 2 + 3 and seen.count("UPDATE") == 3 + 2
    direct = [r for r in results if isinstance(r, WriteResult)]
    if db_url.startswith(
        "sqlite"
    ):  # second sights of the plain writes (the batches share the keys of p0..p2)
        assert [r.rowcount for r in direct] == [1, 1, 3, 3, 1, 0]
    else:
        assert direct == []


async def test_a_refused_write_raises_sqlalchemys_error(db_url: str) -> None:
    db = Database(db_url, pool_size=1)

    async def twice(conn: AsyncConnection) -> None:
        await conn.execute(_INSERT, project("x1"))
        await conn.execute(_INSERT, project("x2"))
        await conn.execute(_INSERT, project("x1", name="other"))  # the id is taken

    try:
        with pytest.raises(sa.exc.IntegrityError):
            await db.run_write(twice)
        async with db.read() as conn:  # the transaction rolled back as a whole
            assert (
                await conn.execute(sa.select(sa.func.count()).select_from(projects))
            ).scalar() == 0
    finally:
        await db.dispose()


async def test_a_refused_executemany_writes_none_of_its_rows(db_url: str) -> None:
    """sqlite3's executemany stops at the failing row with the rows before it written, and
    the fallback ran the whole list again: a caller that went on after the IntegrityError
    committed half a batch. All rows or none, and the error names the row that failed."""
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL aborts the transaction on any error: no caller goes on")
    db = Database(db_url, pool_size=1)

    async def batches(conn: AsyncConnection) -> list[str]:
        messages = []
        # With settings: straight to sqlite3 from the second sight; without: settings'
        # Python-side default sends it through SQLAlchemy (pysqlite's executemany).
        for extra in ({"settings": {}}, {}):
            await conn.execute(_INSERT, [project(f"x1{len(extra)}", **extra)])  # first sight
            batch = [project(f"n{n}{len(extra)}", **extra) for n in range(3)]
            batch.insert(2, project(f"x1{len(extra)}", **extra))  # the id is taken
            with pytest.raises(sa.exc.IntegrityError) as refused:
                await conn.execute(_INSERT, batch)
            messages.append(str(refused.value))
        await conn.execute(_INSERT, [project("y1"), project("y2")])  # the transaction goes on
        return messages

    try:
        messages = await db.run_write(batches)
        async with db.read() as conn:
            ids = (await conn.execute(sa.select(projects.c.id).order_by("id"))).scalars().all()
    finally:
        await db.dispose()
    assert ids == ["x10", "x11", "y1", "y2"]
    assert all("UNIQUE constraint failed: projects." in message for message in messages)


@pytest.mark.parametrize(
    ("statement", "keys"),
    [
        ("_MARK_SENT", ("outbox_id", "provider_message_id", "now")),
        ("_MARK_FAILED", ("outbox_id", "error")),
        ("_RETRY_LATER", ("outbox_id", "error", "at")),
    ],
)
def test_the_dispatchers_records_take_the_prebuilt_path(
    statement: str, keys: tuple[str, ...]
) -> None:
    # The dispatcher records one of these per message sent: no expanding IN, so sqlite3
    # runs them directly (issue 9 item 7).
    from convoflow.store import outbox
    from convoflow.store.dialects.sqlite_writes import _compile

    with sa.create_engine("sqlite://").connect() as conn:
        plan = _compile(conn, getattr(outbox, statement), keys)
    assert plan is not None and "IN" not in plan.sql.upper().split()
