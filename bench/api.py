"""HTTP API benchmark: `convoflow serve` in its own process, load from this one, loopback.

Phases (each N requests at the given concurrency, latency = request sent -> response read):
start (POST /workflows/{id}/executions, sandbox channel), get (GET /workflow_executions/{id}),
list (GET /workflows/{id}/executions?limit=20), resume (POST .../resume "42", which runs the
rest of the canonical flow inline). Then list-page latency with --list-rows executions
bulk-inserted into one workflow: sequential pages of 20, newest first and from a deep
cursor (keyset, no OFFSET), with and without a status filter.

    python bench/api.py --backend sqlite --requests 2000 --concurrency 32
    python bench/api.py --backend postgresql --requests 5000 --list-rows 1000000
    python bench/api.py --backend sqlite --requests 2000 --concurrency 8,16,32 --list-rows 0

A comma-separated --concurrency runs the load phases once per level against the same
server (new phone numbers each time): whether throughput holds as concurrency grows.

Not a test: numbers depend on the machine; record them in BENCHMARKS.md with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from common import create_pg_database, drop_pg_database, percentile  # noqa: E402
from convoflow.api.pagination import encode_cursor  # noqa: E402
from convoflow.process import Process, build_process  # noqa: E402
from convoflow.services.common import Actor  # noqa: E402
from convoflow.services.projects.accounts import create_api_key, create_project  # noqa: E402
from convoflow.services.workflows import lifecycle as workflow_api  # noqa: E402
from convoflow.services.workflows import triggers  # noqa: E402
from convoflow.services.workflows.lifecycle import WorkflowChanges  # noqa: E402
from convoflow.store.migrate import upgrade  # noqa: E402

P = "/platform/v1"


def summary(name: str, latencies: list[float], elapsed: float) -> dict[str, Any]:
    return {
        "phase": name,
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1) if elapsed else None,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def create_database(backend: str, tmp: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'bench.db'}", lambda: None
    name = f"cf_bench_api_{uuid.uuid4().hex[:8]}"
    return create_pg_database(name), lambda: drop_pg_database(name)


async def seed(engine: Process, actor: Actor, name: str) -> str:
    """An active canonical workflow with an active api_call trigger."""
    definition = json.loads((ROOT / "examples" / "canonical.json").read_text())["definition"]
    row = await workflow_api.create(engine, actor, name=name, definition=definition)
    workflow_id = str(row["id"])
    await workflow_api.update(engine, actor, workflow_id, WorkflowChanges(status="active"))
    await triggers.create(engine, actor, workflow_id, triggers.TriggerSpec("api_call"))
    return workflow_id


BULK_START = datetime(2025, 1, 1, tzinfo=UTC)


def bulk_key(i: int) -> tuple[datetime, str]:
    """(created_at, id) of bulk row i: both increase with i, as real rows' do."""
    return BULK_START + timedelta(milliseconds=i), str(uuid.UUID(int=(i + 1) << 64 | 0x7 << 60))


async def bulk_executions(engine: Process, workflow_id: str, rows: int) -> None:
    """Insert `rows` waiting executions directly (what a long-lived deployment has)."""
    import sqlalchemy as sa

    from convoflow.store.schema import executions, workflows

    async with engine.db.read() as conn:
        workflow = (
            (await conn.execute(sa.select(workflows).where(workflows.c.id == workflow_id)))
            .mappings()
            .one()
        )
    chunk = 5000
    for offset in range(0, rows, chunk):
        batch = []
        for i in range(offset, min(rows, offset + chunk)):
            created, row_id = bulk_key(i)
            batch.append(
                {
                    "id": row_id,
                    "project_id": workflow["project_id"],
                    "workflow_id": workflow_id,
                    "version_id": workflow["current_version_id"],
                    "status": "waiting" if i % 4 else "ended",
                    "waiting_reason": "wait_for_response" if i % 4 else None,
                    "current_node_id": "wait_age",
                    "cursor": {"phase": "await_input"} if i % 4 else {"phase": "done"},
                    "context": {"vars": {"n": i}, "system": {}, "context": {}, "metadata": {}},
                    "version": 1,
                    "event_seq": 0,
                    "steps_since_wait": 0,
                    "tracking_id": str(uuid.uuid4()),
                    "trigger_type": "api_call",
                    "observer": False,
                    "depth": 0,
                    "started_at": created,
                    "last_event_at": created,
                    "created_at": created,
                    "updated_at": created,
                }
            )
        async with engine.db.write() as conn:
            await conn.execute(sa.insert(executions), batch)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        CONVOFLOW_RATE_LIMIT_PER_MINUTE=str(10**9),
        CONVOFLOW_START_BURST_PER_SECOND=str(10**9),
    )
    command = [sys.executable, "-m", "convoflow", "serve", "--port", str(port)]
    command += ["--database-url", url, "--log-level", "warning"]
    return subprocess.Popen(command, env=env, cwd=ROOT)


@contextlib.contextmanager
def serving(url: str) -> Iterator[tuple[str, int]]:
    """`convoflow serve` on `url` in its own process, healthy; yields its base URL and
    process id."""
    port = free_port()
    server = start_server(url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_healthy(base, server))
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


async def wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(300):
            if server.poll() is not None:
                raise SystemExit("the server exited; see its output above")
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not become healthy in 30 s")


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def phase(
    http: httpx.AsyncClient, name: str, calls: list[Any], concurrency: int, server: int
) -> tuple[dict[str, Any], list[Any]]:
    """Run `calls` (each an async callable returning the parsed body) `concurrency` at a
    time; every response must be 2xx. Also the CPU the server process and this load
    generator spent per request: which of the two a fall in throughput comes from."""
    latencies: list[float] = []
    results: list[Any] = [None] * len(calls)
    queue = list(enumerate(calls))
    queue.reverse()

    async def worker() -> None:
        while queue:
            index, call = queue.pop()
            started = time.perf_counter()
            response = await call(http)
            latencies.append(time.perf_counter() - started)
            if response.status_code >= 300:
                raise SystemExit(f"{name}: HTTP {response.status_code} {response.text[:300]}")
            results[index] = response.json() if response.content else None

    server_process, client_process = psutil.Process(server), psutil.Process()
    server_cpu, client_cpu = cpu_seconds(server_process), cpu_seconds(client_process)
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    report = summary(name, latencies, time.perf_counter() - began)
    for side, process, before in (
        ("server", server_process, server_cpu),
        ("client", client_process, client_cpu),
    ):
        spent = cpu_seconds(process) - before
        report[f"{side}_cpu_ms_per_request"] = round(spent * 1000 / max(1, len(calls)), 2)
    return report, results


async def load(
    base: str, key: str, workflow_id: str, n: int, concurrency: int, offset: int, server: int
) -> list[Any]:
    body = {
        "workflow_execution": {"phone_number": "+15550000000", "context": {"channel": "sandbox"}}
    }
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": key}, limits=limits, timeout=60
    ) as http:

        def start_call(i: int) -> Any:
            payload = {
                "workflow_execution": {
                    **body["workflow_execution"],
                    "phone_number": f"+1555{offset + i:07d}",
                }
            }
            return lambda h: h.post(f"{P}/workflows/{workflow_id}/executions", json=payload)

        report = []
        result, started = await phase(
            http, "start", [start_call(i) for i in range(n)], concurrency, server
        )
        report.append(result)
        ids = [item["data"]["id"] for item in started]
        gets = [lambda h, i=i: h.get(f"{P}/workflow_executions/{i}") for i in ids]
        report.append((await phase(http, "get", gets, concurrency, server))[0])
        lists = [
            lambda h: h.get(f"{P}/workflows/{workflow_id}/executions", params={"limit": 20})
        ] * n
        report.append((await phase(http, "list", lists, concurrency, server))[0])
        resumes = [
            lambda h, i=i: h.post(
                f"{P}/workflow_executions/{i}/resume", json={"message": {"data": "42"}}
            )
            for i in ids
        ]
        report.append((await phase(http, "resume", resumes, concurrency, server))[0])
        return [dict(row, concurrency=concurrency) for row in report]


async def list_pages(
    base: str, key: str, workflow_id: str, pages: int, rows: int
) -> list[dict[str, Any]]:
    """Sequential list pages over a big table: from the top, and deep via cursors."""
    url = f"{P}/workflows/{workflow_id}/executions"
    report = []
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=60) as http:
        for label, params in (
            (f"list_{rows}_newest", {}),
            (f"list_{rows}_status_waiting", {"status": "waiting"}),
        ):
            latencies: list[float] = []
            cursor = None
            began = time.perf_counter()
            for _ in range(pages):
                query = {"limit": 20, **params, **({"after": cursor} if cursor else {})}
                started = time.perf_counter()
                response = await http.get(url, params=query)
                latencies.append(time.perf_counter() - started)
                cursor = response.json()["paging"]["next"]
            report.append(summary(label, latencies, time.perf_counter() - began))
        # A deep page: the cursor of a row half-way down the table.
        middle = encode_cursor(*bulk_key(rows // 2))
        latencies = []
        for _ in range(pages):
            started = time.perf_counter()
            await http.get(url, params={"limit": 20, "after": middle})
            latencies.append(time.perf_counter() - started)
        report.append(summary(f"list_{rows}_deep_cursor", latencies, sum(latencies)))
    return report


async def prepare(url: str, list_rows: int) -> tuple[str, str, str]:
    """(API key, workflow for the load phases, workflow holding the bulk rows)."""
    engine = build_process(url)
    try:

        async def project(adv: Any) -> tuple[str, str]:
            project_id = await create_project(adv.conn, engine.clock, "bench")
            return project_id, await create_api_key(adv.conn, engine.clock, project_id)

        project_id, key = await engine.runtime.op(project)
        actor = Actor(project_id=project_id, key_name="bench")
        workflow_id = await seed(engine, actor, "bench load")
        big_workflow = await seed(engine, actor, "bench list")
        if list_rows:
            began = time.perf_counter()
            await bulk_executions(engine, big_workflow, list_rows)
            took = time.perf_counter() - began
            print(f"inserted {list_rows} executions in {took:.1f} s", file=sys.stderr)
        return key, workflow_id, big_workflow
    finally:
        await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=2000, help="requests per phase")
    parser.add_argument("--concurrency", default="32", help="one level, or several: 8,16,32")
    parser.add_argument("--list-rows", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=200, help="list pages to time")
    args = parser.parse_args()
    levels = [int(level) for level in str(args.concurrency).split(",")]
    with tempfile.TemporaryDirectory(prefix="cf-bench-api-") as tmp:
        url, cleanup = create_database(args.backend, Path(tmp))
        try:
            upgrade(url)
            key, workflow_id, big_workflow = asyncio.run(prepare(url, args.list_rows))
            with serving(url) as (base, server):
                report = []
                for index, level in enumerate(levels):
                    offset = index * args.requests
                    report += asyncio.run(
                        load(base, key, workflow_id, args.requests, level, offset, server)
                    )
                if args.list_rows:
                    report += asyncio.run(
                        list_pages(base, key, big_workflow, args.pages, args.list_rows)
                    )
        finally:
            cleanup()
    print(json.dumps({"backend": args.backend, "concurrency": levels, "results": report}, indent=2))


if __name__ == "__main__":
    main()
