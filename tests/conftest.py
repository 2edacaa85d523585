"""Shared fixtures: a throwaway database per test, on SQLite and on PostgreSQL.

Every test that takes `db_url` (directly or through `engine`) runs once per backend.
PostgreSQL is required, never skipped: `make test` starts or installs it; running pytest
by hand needs CONVOFLOW_TEST_PG_ADMIN_URL (default: the local server's `test` database)
to reach a server where we may CREATE DATABASE. Each test gets a copy of a migrated
template (a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL), dropped
afterwards, so CI can reuse the machine.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from convoflow.clock import FakeClock
from convoflow.config import Settings
from convoflow.store.migrate import upgrade

# Every engine, server and subprocess of the suite encrypts secrets under one key made
# for this run (PostgreSQL requires a key; the secret-key tests set their own).
os.environ.setdefault("CONVOFLOW_SECRET_KEY", Fernet.generate_key().decode())

PG_ADMIN_URL = os.environ.get(
    "CONVOFLOW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = [
    b for b in os.environ.get("CONVOFLOW_TEST_BACKENDS", "sqlite,postgresql").split(",") if b
]


def _pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def _pg_admin(*statements: str) -> None:
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_ADMIN_URL)
    except Exception as exc:  # a clear message instead of a skip
        raise RuntimeError(
            f"PostgreSQL is required for the test suite and is not reachable at "
            f"{PG_ADMIN_URL} ({exc}). Run `make test`, which starts or installs it, or set "
            "CONVOFLOW_TEST_PG_ADMIN_URL."
        ) from exc
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


class Templates:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sqlite_template: Path | None = None
        self.pg_template: str | None = None

    def sqlite(self) -> Path:
        if self.sqlite_template is None:
            path = self.root / "template.db"
            upgrade(f"sqlite:///{path}")
            self.sqlite_template = path
        return self.sqlite_template

    def postgresql(self) -> str:
        if self.pg_template is None:
            name = f"cf_tmpl_{uuid.uuid4().hex[:12]}"
            asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
            upgrade(_pg_url(name))
            self.pg_template = name
        return self.pg_template


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    holder = Templates(tmp_path_factory.mktemp("db-templates"))
    yield holder
    if holder.pg_template:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{holder.pg_template}" WITH (FORCE)'))


def fresh_database(templates: Templates, backend: str, tmp_path: Path) -> tuple[str, Any]:
    """A migrated, empty database; returns (url, cleanup)."""
    if backend == "sqlite":
        path = tmp_path / f"cf-{uuid.uuid4().hex[:8]}.db"
        shutil.copy(templates.sqlite(), path)
        return f"sqlite+aiosqlite:///{path}", lambda: None
    template = templates.postgresql()
    name = f"cf_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

    def drop() -> None:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return _pg_url(name).replace("postgresql://", "postgresql+asyncpg://"), drop


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(templates: Templates, backend: str, tmp_path: Path) -> Iterator[str]:
    url, cleanup = fresh_database(templates, backend, tmp_path)
    try:
        yield url
    finally:
        cleanup()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    return Settings(worker_poll_seconds=0.05)


@pytest.fixture
async def engine(db_url: str, clock: FakeClock, settings: Settings) -> AsyncIterator[Any]:
    from convoflow.process import build_process

    built = build_process(db_url, clock=clock, settings=settings, pool_size=5)
    try:
        yield built
    finally:
        await built.close()
