"""The throwaway PostgreSQL cluster of the database-fault tests (pg_cluster.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.durability.pg_cluster import MISSING_BINARIES, PgCluster, admin, postgres_bin


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    """A started cluster with an empty `convoflow` database; removed afterwards."""
    bindir = postgres_bin()
    if bindir is None:
        pytest.fail(MISSING_BINARIES)  # never skipped: a skip would pass CI unproven
    pg = PgCluster(bindir)
    try:
        pg.start()
        asyncio.run(admin(pg, "CREATE DATABASE convoflow"))
        yield pg
    finally:
        pg.destroy()
