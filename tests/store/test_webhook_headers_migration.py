"""Migration 0011: the plaintext custom headers of project webhooks in a database made
before it are encrypted in place (an empty object becomes NULL), read back through the
store, and decrypted again by its downgrade; a database whose webhooks have no header
migrates without any key. Both databases."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from convoflow.store import webhooks as webhook_store
from convoflow.store.cipher import SecretCipher
from convoflow.store.db import Database
from convoflow.store.migrate import downgrade, upgrade

HEADERS = {"Authorization": "Bearer pre-0011-plaintext", "X-Team": "ops"}
AT = "'2026-01-01 00:00:00'"


async def _insert_at_0010(url: str, rows: dict[str, str]) -> None:
    """Webhooks as 0010-era code wrote them (raw SQL: schema.py describes head)."""
    db = Database(url, pool_size=1)
    try:
        async with db.write() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO projects (id, name, settings, created_at, updated_at) "
                    f"VALUES ('p1', 'old', '{{}}', {AT}, {AT})"
                )
            )
            for webhook_id, headers in rows.items():
                await conn.execute(
                    sa.text(
                        "INSERT INTO whatsapp_webhooks (id, project_id, url, kind, events, "
                        "active, headers, settings, created_at, updated_at) VALUES "
                        f"('{webhook_id}', 'p1', 'http://127.0.0.1:9/h', 'kapso', "
                        f"'[\"workflow.execution.failed\"]', true, '{headers}', '{{}}', {AT}, {AT})"
                    )
                )
    finally:
        await db.dispose()


async def _raw(url: str) -> dict[str, str | None]:
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT id, headers FROM whatsapp_webhooks"))
            return {
                str(i): None if v is None else v if isinstance(v, str) else json.dumps(v)
                for i, v in rows
            }
    finally:
        await db.dispose()


async def _read(url: str, cipher: SecretCipher, webhook_id: str) -> dict[str, str]:
    db = Database(url, cipher=cipher, pool_size=1)
    try:
        async with db.read() as conn:
            row = await webhook_store.get_webhook(conn, webhook_id, "p1")
            assert row is not None
            return dict(row["headers"])
    finally:
        await db.dispose()


async def test_0011_encrypts_existing_headers_and_downgrade_decrypts(db_url: str) -> None:
    await asyncio.to_thread(downgrade, db_url, "0010")
    await _insert_at_0010(db_url, {"full": json.dumps(HEADERS), "empty": "{}"})

    await asyncio.to_thread(upgrade, db_url)
    raw = await _raw(db_url)
    assert raw["empty"] is None
    token = raw["full"]
    assert token is not None and token.startswith("gAAAAA") and "pre-0011" not in token
    key = os.environ["CONVOFLOW_SECRET_KEY"].split(",")[0]
    assert json.loads(Fernet(key).decrypt(token.encode())) == HEADERS
    cipher = SecretCipher([key])
    assert await _read(db_url, cipher, "full") == HEADERS
    assert await _read(db_url, cipher, "empty") == {}

    await asyncio.to_thread(downgrade, db_url, "0010")
    raw = await _raw(db_url)
    assert json.loads(raw["full"] or "") == HEADERS and json.loads(raw["empty"] or "") == {}


async def test_0011_needs_no_key_when_no_webhook_has_headers(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await asyncio.to_thread(downgrade, db_url, "0010")
    await _insert_at_0010(db_url, {"empty": "{}"})
    # No key anywhere (PostgreSQL would refuse to load one; this SQLite file has no key
    # file): the migration must not ask for it.
    monkeypatch.delenv("CONVOFLOW_SECRET_KEY")
    await asyncio.to_thread(upgrade, db_url)
    assert await _raw(db_url) == {"empty": None}
