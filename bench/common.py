"""What the benchmark scripts share: the PostgreSQL admin connection (throwaway
databases) and percentiles. Imported as `common` (the scripts' own directory is on
sys.path when they run)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def compare_alternately(
    script: str, other: str, this: Path, options: list[str], rounds: int
) -> Iterator[tuple[str, int, dict[str, Any], list[float]]]:
    """Run `bench/<script>` of another checkout and of this one alternately, `rounds`
    times each, in subprocesses (each its own code): a before/after comparison in one run.
    Yields (tree, round, the run's JSON output, load average before and after it)."""
    trees = {"other": Path(other).resolve(), "this": this}
    for round_ in range(1, rounds + 1):
        for name, tree in trees.items():
            load_before = os.getloadavg()[0]
            out = subprocess.run(
                [sys.executable, str(tree / "bench" / script), *options],
                cwd=tree,
                env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            # A script prints one JSON document, indented or as its last line.
            try:
                figures = json.loads(out)
            except json.JSONDecodeError:
                figures = json.loads(out.strip().splitlines()[-1])
            load = [round(load_before, 1), round(os.getloadavg()[0], 1)]
            yield name, round_, figures, load
