"""A lost PostgreSQL connection is a 503 or a retry, never a 500 or a stuck process.

PostgreSQL only by nature (SQLite has no server to lose): the `backend` parameter is
fixed. The whole story — restarts and crashes under load — is in
tests/durability/test_db_faults.py; these are its fast, focused halves.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from convoflow.api.app import create_app
from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.clock import FakeClock
from convoflow.config import Settings
from convoflow.engine.advance import Advance
from convoflow.process import Process, build_process
from tests.api.conftest import serve
from tests.conftest import PG_ADMIN_URL
from tests.durability.pg_cluster import free_port
from tests.engine.lost_sends import insert_lost_send, wait_until_held
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


class Gate:
    """A loopback port in front of PostgreSQL: connections are refused (nothing listens)
    until `open`, then piped through, as when the database comes back."""

    def __init__(self, db_url: str) -> None:
        self.target = make_url(db_url)
        self.url = self.target.set(port=free_port()).render_as_string(hide_password=False)
        self._server: asyncio.Server | None = None

    async def open(self) -> None:
        port = make_url(self.url).port
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", port)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = self.target.host or "127.0.0.1", self.target.port or 5432
        up_reader, up_writer = await asyncio.open_connection(host, port)
        await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_server_started_without_its_database_holds_uncertain_sends_once_it_is_back(
    engine: Process, clock: FakeClock
) -> None:
    """The start-up hold of the sends a crash left uncertain (engine/start_up.py) needs
    the database: a server started while it is down still serves, holds them once it is
    back, and only then lets its worker claim sends."""
    project_id = await make_project(engine, "held")
    now = clock.now()
    await insert_lost_send(engine, project_id, now)
    gate = Gate(engine.db.url)
    settings = Settings(worker_poll_seconds=0.05, graph_base_url="http://127.0.0.1:9/v23.0")
    server = build_process(gate.url, clock=clock, settings=settings, pool_size=2)
    try:
        async with serve(create_app(server, run_worker=True)) as url:  # serves at once
            async with httpx.AsyncClient(base_url=url) as http:
                down = await http.get("/platform/v1/workflows", headers={"X-API-Key": "any"})
                assert down.status_code == 503, down.text
            await gate.open()
            held_until = now + timedelta(seconds=settings.send_reconcile_seconds)
            row = await wait_until_held(engine, held_until, 30)
            # Held from the start-up, and not claimed by the worker before that.
            assert (row["status"], row["attempts"]) == ("uncertain", 1), dict(row)
            assert row["next_attempt_at"] == held_until, dict(row)
    finally:
        await server.close()
        await gate.close()
