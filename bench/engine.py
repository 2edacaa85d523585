"""Engine benchmark: N conversations of the canonical flow, driven in-process.

Each conversation is started (start -> send_text -> wait_for_response), then resumed once
with "42" (-> decide(rules) -> set_variable -> send_text -> end). The resume phase is the
measured one: resumes/s, latency of one resume (submit -> committed), commits per resume
(group commit shares one commit among concurrent advances) and RSS. The outbox is then
drained by the dispatcher (sandbox channel), reported separately.

    python bench/engine.py --backend sqlite --conversations 5000
    python bench/engine.py --backend postgresql --processes 2 --conversations 10000
    python bench/engine.py --backend sqlite --rss-sweep 1000,100000
    python bench/engine.py --backend postgresql --conversations 3000 --compare ../base --rounds 3

`--compare` runs another checkout's `bench/engine.py` (its own code: e.g. main before a
change, `git archive main | tar -x -C ../base`) and this one alternately, `--rounds` times
each, in subprocesses, one JSON line per run with the load average before and after it:
a before/after comparison in one run, with the load each figure was taken at.

Not a test: numbers depend on the machine; record them in BENCHMARKS.md with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
from sqlalchemy import event as sa_event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from common import (  # noqa: E402
    compare_alternately,
    create_pg_database,
    drop_pg_database,
    percentile,
)
from convoflow.config import Settings  # noqa: E402
from convoflow.engine.advance import Advance  # noqa: E402
from convoflow.engine.signals import UserInput  # noqa: E402
from convoflow.process import Process, build_process  # noqa: E402
from convoflow.services.projects.accounts import create_project  # noqa: E402
from convoflow.services.workflows.versions import create_workflow  # noqa: E402
from convoflow.store.migrate import upgrade  # noqa: E402


def canonical_definition() -> Any:
    return json.loads((ROOT / "examples" / "canonical.json").read_text())["definition"]


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


# --- database set-up ------------------------------------------------------------------


def create_database(backend: str) -> tuple[str, Any]:
    if backend == "sqlite":
        directory = tempfile.mkdtemp(prefix="cf-bench-")
        url = f"sqlite+aiosqlite:///{directory}/bench.db"
        upgrade(url)
        return url, lambda: None
    name = f"cf_bench_{uuid.uuid4().hex[:10]}"
    url = create_pg_database(name)
    upgrade(url)
    return url, lambda: drop_pg_database(name)


def settings() -> Settings:
    return Settings(worker_poll_seconds=0.05)


# --- phases ---------------------------------------------------------------------------


async def setup_workflow(
    engine: Process, definition: Any = None, name: str = "canonical"
) -> tuple[str, str]:
    """A project and one active workflow (the canonical flow unless `definition`)."""

    async def create(adv: Advance) -> tuple[str, str]:
        project_id = await create_project(adv.conn, engine.clock, f"bench-{uuid.uuid4().hex[:6]}")
        workflow_id = await create_workflow(
            adv.conn,
            engine.clock,
            project_id=project_id,
            name=name,
            definition=definition or canonical_definition(),
            status="active",
        )
        return project_id, workflow_id

    return await engine.runtime.op(create)


async def run_concurrently(items: list[Any], concurrency: int, call: Any) -> list[float]:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    latencies: list[float] = []

    async def runner() -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            await call(item)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return latencies


async def start_conversations(
    engine: Process, project_id: str, workflow_id: str, count: int, concurrency: int
) -> tuple[list[str], float]:
    ids: list[str] = []

    async def start(_: int) -> None:
        state = await engine.runtime.start_execution(
            project_id=project_id,
            workflow_id=workflow_id,
            trigger_type="api_call",
            context={"channel": "sandbox"},
        )
        ids.append(state.id)

    started = time.perf_counter()
    await run_concurrently(list(range(count)), concurrency, start)
    return ids, time.perf_counter() - started


_statements = [0]


def _count_statement(*_args: Any) -> None:
    _statements[0] += 1


# Every SQL statement of this process (an executemany counts once).
sa_event.listen(sa.engine.Engine, "before_cursor_execute", _count_statement)


async def resume_all(engine: Process, ids: list[str], concurrency: int) -> dict[str, Any]:
    stats = engine.runtime.committer.stats
    commits_before, ops_before = stats.commits, stats.operations
    statements_before = _statements[0]

    async def resume(execution_id: str) -> None:
        await engine.runtime.resume(execution_id, UserInput(value="42", source="bench"))

    cpu_before = sum(psutil.Process().cpu_times()[:2])
    started = time.perf_counter()
    latencies = await run_concurrently(ids, concurrency, resume)
    elapsed = time.perf_counter() - started
    # This process's CPU (user + sys) per resume: less at the mercy of the machine's
    # load than resumes/s (the PostgreSQL server's own CPU is not in it).
    cpu = sum(psutil.Process().cpu_times()[:2]) - cpu_before
    commits = stats.commits - commits_before
    return {
        "resumes": len(ids),
        "seconds": elapsed,
        "resumes_per_s": len(ids) / elapsed,
        "commits": commits,
        "commits_per_resume": commits / max(1, len(ids)),
        "ops": stats.operations - ops_before,
        "sql_statements_per_resume": (_statements[0] - statements_before) / max(1, len(ids)),
        "cpu_ms_per_resume": cpu * 1000 / max(1, len(ids)),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "rss_mb": rss_mb(),
    }


async def drain_outbox(engine: Process) -> dict[str, Any]:
    stats = engine.runtime.committer.stats
    commits_before = stats.commits
    sent_before = engine.dispatcher.sent
    started = time.perf_counter()
    while await engine.dispatcher.run_once():
        pass
    elapsed = time.perf_counter() - started
    sent = engine.dispatcher.sent - sent_before
    return {
        "messages": sent,
        "messages_per_s": sent / elapsed if elapsed else 0.0,
        "commits_per_message": (stats.commits - commits_before) / max(1, sent),
    }


async def statuses(url: str) -> dict[str, int]:
    """Executions by status, read after the run."""
    import sqlalchemy as sa

    from convoflow.store.schema import executions

    engine = build_process(url, settings=settings(), pool_size=2)
    try:
        async with engine.db.read() as conn:
            stmt = sa.select(executions.c.status, sa.func.count()).group_by(executions.c.status)
            rows = (await conn.execute(stmt)).all()
    finally:
        await engine.close()
    return {str(status): int(count) for status, count in rows}


# --- modes --------------------------------------------------------------------------


def resume_slice(url: str, ids: list[str], concurrency: int, queue: Any) -> None:
    """In a fresh process (--processes N, the RSS sweep): resume `ids` and report, with
    this process's RSS afterwards."""

    async def run() -> dict[str, Any]:
        engine = build_process(url, settings=settings(), pool_size=20)
        try:
            return await resume_all(engine, ids, concurrency)
        finally:
            await engine.close()

    queue.put(asyncio.run(run()))


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    url, drop = create_database(args.backend)
    try:

        async def prepare() -> tuple[list[str], float]:
            engine = build_process(url, settings=settings(), pool_size=20)
            try:
                project_id, workflow_id = await setup_workflow(engine)
                return await start_conversations(
                    engine, project_id, workflow_id, args.conversations, args.concurrency
                )
            finally:
                await engine.close()

        ids, start_seconds = asyncio.run(prepare())
        if args.processes == 1:
            result = _single_process(url, ids, args.concurrency)
        else:
            result = _multi_process(url, ids, args)
        # A figure from a run whose executions did not all finish would be meaningless.
        final = asyncio.run(statuses(url))
        if final != {"ended": len(ids)}:
            raise SystemExit(f"benchmark run is wrong: executions by status {final}")
        result.update(
            final_statuses=final,
            backend=args.backend,
            processes=args.processes,
            conversations=args.conversations,
            concurrency=args.concurrency,
            starts_per_s=len(ids) / start_seconds,
        )
        return result
    finally:
        drop()


def _single_process(url: str, ids: list[str], concurrency: int) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        engine = build_process(url, settings=settings(), pool_size=20)
        try:
            result = await resume_all(engine, ids, concurrency)
            result["outbox"] = await drain_outbox(engine)
            return result
        finally:
            await engine.close()

    return asyncio.run(run())


def _multi_process(url: str, ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    slices = [ids[i :: args.processes] for i in range(args.processes)]
    per_process = max(1, args.concurrency // args.processes)
    started = time.perf_counter()
    procs = [
        ctx.Process(target=resume_slice, args=(url, part, per_process, queue)) for part in slices
    ]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    wall = time.perf_counter() - started
    total = sum(r["resumes"] for r in results)
    return {
        "resumes": total,
        "seconds": wall,
        "resumes_per_s": total / max(r["seconds"] for r in results),
        "commits_per_resume": sum(r["commits"] for r in results) / max(1, total),
        "p50_ms": statistics.median(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "rss_mb": max(r["rss_mb"] for r in results),
        "per_process": results,
    }


def rss_sweep(args: argparse.Namespace) -> list[dict[str, Any]]:
    """RSS of a fresh worker process resuming 2,000 conversations while W others sit
    waiting in the same database. A waiting execution is a row, so RSS should not grow
    with W (only the database's own page cache, bounded by its settings, can)."""
    rows = []
    ctx = multiprocessing.get_context("spawn")
    for waiting in (int(w) for w in args.rss_sweep.split(",")):
        url, drop = create_database(args.backend)
        try:

            async def prepare(waiting: int = waiting, url: str = url) -> list[str]:
                engine = build_process(url, settings=settings(), pool_size=20)
                try:
                    project_id, workflow_id = await setup_workflow(engine)
                    await start_conversations(
                        engine, project_id, workflow_id, waiting, args.concurrency
                    )
                    active, _ = await start_conversations(
                        engine, project_id, workflow_id, 2000, args.concurrency
                    )
                    return active
                finally:
                    await engine.close()

            active = asyncio.run(prepare())
            queue = ctx.Queue()
            proc = ctx.Process(target=resume_slice, args=(url, active, args.concurrency, queue))
            proc.start()
            result = queue.get()
            proc.join()
            rows.append(
                {
                    "waiting": waiting,
                    "worker_rss_mb": round(result["rss_mb"], 1),
                    "resumes_per_s": round(result["resumes_per_s"], 1),
                }
            )
        finally:
            drop()
    return rows


def compare(args: argparse.Namespace) -> None:
    options = ["--backend", args.backend, "--conversations", str(args.conversations)]
    options += ["--concurrency", str(args.concurrency), "--processes", str(args.processes)]
    keep = ("resumes_per_s", "cpu_ms_per_resume", "p50_ms", "p99_ms", "starts_per_s")
    keep += ("sql_statements_per_resume",)
    runs = compare_alternately("engine.py", args.compare, ROOT, options, args.rounds)
    for tree, round_, result, load in runs:
        figures = {k: round(result[k], 2) for k in keep if k in result}
        print(json.dumps({"tree": tree, "round": round_, **figures, "load": load}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--rss-sweep", help="comma-separated waiting counts, e.g. 1000,100000")
    parser.add_argument("--compare", help="another checkout to run alternately with this one")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.compare:
        compare(args)
    elif args.rss_sweep:
        print(json.dumps(rss_sweep(args), indent=2))
    else:
        print(json.dumps(throughput(args), indent=2))


if __name__ == "__main__":
    main()
