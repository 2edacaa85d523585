"""What the benchmark scripts share: the PostgreSQL admin connection (throwaway
databases) and percentiles. Imported as `common` (the scripts' own directory is on
sys.path when they run)."""

from __future__ import annotations

import asyncio
import os

# One key for the whole run (its server subprocesses inherit it): PostgreSQL requires
# one, and throwaway benchmark databases need no key kept anywhere.
if not os.environ.get("CONVOFLOW_SECRET_KEY"):
    from cryptography.fernet import Fernet

    os.environ["CONVOFLOW_SECRET_KEY"] = Fernet.generate_key().decode()

PG_ADMIN = os.environ.get(
    "CONVOFLOW_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def pg_admin(statement: str) -> None:
    """Run one statement (CREATE / DROP DATABASE) on the admin connection."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_pg_database(name: str) -> str:
    """A new database on the admin connection's server; its SQLAlchemy asyncpg URL."""
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


def drop_pg_database(name: str) -> None:
    asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
