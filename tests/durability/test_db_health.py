"""/healthz through a real PostgreSQL stop and start: a `convoflow serve` subprocess on a
throwaway cluster (pg_cluster.py). PostgreSQL only by nature; needs `initdb` and `pg_ctl`
(fails without them, never skips)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from convoflow.store.migrate import upgrade
from tests.durability.pg_cluster import PgCluster
from tests.durability.serve_subprocess import Server

# How long /healthz may take to show a change: a bound for a stuck probe, not a measure.
# The probe pings every second or so (services/health/probe.py), so it flips within about
# that plus a refused connection; a loaded CI machine (2 cores, several test workers) can
# stretch that several times over, which a tight bound turned into a flaky failure. The
# measured latency is printed (pytest -s) instead.
FLIP_SECONDS = 15.0

pytestmark = pytest.mark.pg_cluster


async def _health_until(http: httpx.AsyncClient, status: int) -> float:
    """Seconds until /healthz answers `status`, polled every 50 ms; fails after
    FLIP_SECONDS."""
    began = time.monotonic()
    seen: list[int] = []
    while time.monotonic() - began < FLIP_SECONDS:
        seen.append((await http.get("/healthz")).status_code)
        if seen[-1] == status:
            return time.monotonic() - began
        await asyncio.sleep(0.05)
    raise AssertionError(f"/healthz not {status} within {FLIP_SECONDS} s: {Counter(seen)}")


async def test_healthz_shows_a_stopped_database_and_its_return(
    cluster: PgCluster, tmp_path: Path
) -> None:
    """/healthz answers from a background ping (services/health/probe.py), yet a stopped
    database shows as 503, stays 503 while it is down, and 200 comes back once it answers
    again, from the same process."""
    await asyncio.to_thread(upgrade, cluster.url("convoflow"))
    server = Server(cluster.url("convoflow"), "http://127.0.0.1:9", tmp_path / "serve.log")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            assert (await http.get("/healthz")).status_code == 200
            await asyncio.to_thread(cluster.stop, "fast")
            to_503 = await _health_until(http, 503)
            down = [(await http.get("/healthz")) for _ in range(5)]
            assert {answer.status_code for answer in down} == {503}
            assert all(a.json()["error"].startswith("database: ") for a in down), down[0].text
            await asyncio.to_thread(cluster.start_again)
            to_200 = await _health_until(http, 200)
            print(
                f"/healthz: 503 {to_503:.2f} s after the stop, 200 {to_200:.2f} s after the start"
            )
        assert server.proc is not None and server.proc.poll() is None, "server died"
    finally:
        server.stop()
