"""A lost PostgreSQL connection is a 503 or a retry, never a 500 or a stuck process.

PostgreSQL only by nature (SQLite has no server to lose): the `backend` parameter is
fixed. The whole story — restarts and crashes under load — is in
tests/durability/test_db_faults.py; these are its fast, focused halves.
"""

from __future__ import annotations

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from convoflow.api.app import create_app
from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.config import Settings
from convoflow.engine.advance import Advance
from convoflow.process import Process, build_process
from tests.conftest import PG_ADMIN_URL
from tests.durability.pg_cluster import free_port
from tests.support import make_project


async def _terminate_sessions(db_url: str) -> int:
    """Every session of the test's database ends, as in a PostgreSQL restart."""
    database = db_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
        return len(rows)
    finally:
        await admin.close()


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_writes_go_on_after_every_session_was_terminated(engine: Process) -> None:
    await make_project(engine, "before")
    assert await _terminate_sessions(engine.db.url) > 0  # the pool held live connections

    # The pooled connections are dead; the committer finds out, gets a fresh one and the
    # write commits. Before: the first write after a restart failed.
    project_id = await make_project(engine, "after")

    async def count(adv: Advance) -> int:
        result = await adv.conn.execute(sa.text("SELECT count(*) FROM projects"))
        return int(result.scalar_one())

    assert await engine.runtime.op(count) == 2
    async with engine.db.read() as conn:  # the rest of the pool was recycled
        found = await conn.execute(
            sa.text("SELECT id FROM projects WHERE id = :id"), {"id": project_id}
        )
        assert found.scalar_one() == project_id


@pytest.fixture
async def unreachable() -> Process:
    # A port nothing listens on: every connection is refused.
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/convoflow"
    return build_process(url, settings=Settings())


async def test_api_and_webhook_answer_503_when_postgres_is_unreachable(
    unreachable: Process,
) -> None:
    app = create_app(unreachable, run_worker=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            listed = await http.get("/platform/v1/workflows", headers={"X-API-Key": "any"})
            raw, headers = bodies.signed({"object": "whatsapp_business_account"}, "secret")
            webhook = await http.post("/webhooks/whatsapp", content=raw, headers=headers)
    finally:
        await unreachable.close()
    # Before: 500 ("a bug in convoflow") for both.
    assert listed.status_code == 503, listed.text
    assert "database is unavailable" in listed.json()["error"]
    assert listed.headers["Retry-After"]
    assert webhook.status_code == 503, webhook.text
    assert "Meta will retry" in webhook.json()["error"]
