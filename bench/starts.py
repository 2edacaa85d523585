"""Concurrent starts of ONE workflow (issue 9: the workflows.execution_count hot row).

Builds the engine in this process on a throwaway database, makes one active workflow
(examples/canonical.json: it parks on its first question) and starts `--starts`
executions of it from `--concurrency` tasks at once through Runtime.start_execution (one
transaction each, as POST .../executions does). Reports starts per second and each
start's latency. On PostgreSQL every start used to UPDATE the workflow's row, so the
starts of a workflow waited for each other's commit.

`--before-src DIR` runs the same measurement with an earlier source tree alternately
(`--rounds` pairs, each in a child process with PYTHONPATH=DIR/src or this tree's src),
DIR from `git archive COMMIT | tar -x -C DIR`.

    python bench/starts.py --backend postgresql --before-src /tmp/before --rounds 2

Not a test: numbers depend on the machine; record them in BENCHMARKS.md with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import common

ROOT = Path(__file__).resolve().parent.parent


async def _run(url: str, starts: int, concurrency: int) -> dict[str, Any]:
    from convoflow.process import build_process
    from convoflow.services.projects.accounts import create_project
    from convoflow.services.workflows.versions import create_workflow

    engine = build_process(url, pool_size=concurrency + 2)
    document = json.loads((ROOT / "examples" / "canonical.json").read_text())
    definition = document.get("definition", document)

    async def make(adv: Any) -> tuple[str, str]:
        project_id = await create_project(adv.conn, engine.clock, "bench", {})
        workflow_id = await create_workflow(
            adv.conn,
            engine.clock,
            project_id=project_id,
            name="flow",
            definition=definition,
            status="active",
        )
        return project_id, workflow_id

    try:
        project_id, workflow_id = await engine.runtime.op(make)
        latencies: list[float] = []
        queue = iter(range(starts))

        async def starter() -> None:
            for _ in queue:
                began = time.perf_counter()
                await engine.runtime.start_execution(
                    project_id=project_id, workflow_id=workflow_id, trigger_type="api"
                )
                latencies.append((time.perf_counter() - began) * 1000)

        stop = asyncio.Event()
        sampler = asyncio.create_task(_lock_waits(url, stop))
        began = time.perf_counter()
        await asyncio.gather(*(starter() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
        stop.set()
        waits = await sampler
    finally:
        await engine.close()
    return {
        **waits,
        "starts": starts,
        "concurrency": concurrency,
        "starts_per_s": round(starts / elapsed, 1),
        "p50_ms": round(common.percentile(latencies, 0.5), 1),
        "p99_ms": round(common.percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
    }


async def _lock_waits(url: str, stop: asyncio.Event) -> dict[str, Any]:
    """PostgreSQL: sample pg_stat_activity every 10 ms while the starts run; how many
    of this database's backends wait on a lock (wait_event_type 'Lock'), on average."""
    if not url.startswith("postgresql"):
        return {}
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    samples: list[int] = []
    try:
        while not stop.is_set():
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            samples.append(int(waiting))
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    return {
        "lock_wait_samples": len(samples),
        "backends_waiting_mean": round(sum(samples) / max(1, len(samples)), 2),
        "samples_with_a_wait": round(sum(1 for n in samples if n) / max(1, len(samples)), 2),
    }


def measure(backend: str, starts: int, concurrency: int) -> dict[str, Any]:
    from convoflow.store.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="cf-bench-starts-") as tmp:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            cleanup = None
        else:
            name = f"cf_bench_starts_{uuid.uuid4().hex[:8]}"
            url = common.create_pg_database(name)
            cleanup = name
        try:
            upgrade(url)
            return asyncio.run(_run(url, starts, concurrency))
        finally:
            if cleanup is not None:
                common.drop_pg_database(cleanup)


def compare_sources(before: Path, rounds: int, argv: list[str]) -> list[dict[str, Any]]:
    """Before and after alternately, so a change in the machine's load falls on both."""
    results = []
    for round_ in range(rounds):
        for name, src in (("before", before.resolve() / "src"), ("after", ROOT / "src")):
            env = {**os.environ, "PYTHONPATH": str(src)}
            out = subprocess.run(
                [sys.executable, __file__, *argv], env=env, check=True, capture_output=True
            ).stdout
            report = json.loads(out.decode().strip().splitlines()[-1])
            load = round(os.getloadavg()[0], 1)
            results.append({"source": name, "round": round_, "load": load, **report})
            print(json.dumps(results[-1]), file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--starts", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--before-src", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=2, help="with --before-src: pairs")
    args = parser.parse_args()
    own = ["--backend", args.backend, "--starts", str(args.starts)]
    own += ["--concurrency", str(args.concurrency)]
    if args.before_src is not None:
        print(json.dumps(compare_sources(args.before_src, args.rounds, own), indent=1))
    else:
        print(json.dumps(measure(args.backend, args.starts, args.concurrency)))


if __name__ == "__main__":
    main()
