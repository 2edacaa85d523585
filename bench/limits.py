"""/healthz latency while 2 MB workflow definitions are being posted (issue 8, item 5).

`convoflow serve` in its own process; from this one, `--posters` clients POST a ~2 MB
definition (2,000 nodes, the node cap) to /platform/v1/workflows back to back, while a
prober GETs /healthz every 10 ms. Reports the probe's percentiles with and without the
load, and how long each 2 MB create took. The property: validating, normalising and
compiling a definition run in a worker process (engine/cpu.py), so the event loop keeps
answering. `--compare` runs the same load twice in one invocation, first with
CONVOFLOW_DEFINITION_WORKERS=0 (the work in a thread of the server process: before) and
then with the default worker process (after).

    python bench/limits.py --backend sqlite --seconds 20 --posters 1 --compare

`--before-src DIR` compares two versions of the code instead, alternately, in one run:
DIR is a source tree of the earlier commit (`git archive COMMIT | tar -x -C DIR`).

Not a test: numbers depend on the machine; record them in BENCHMARKS.md with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from api import create_database, prepare, serving, summary  # noqa: E402
from convoflow.store.migrate import upgrade  # noqa: E402

P = "/platform/v1"
PROBE_INTERVAL = 0.01


def big_definition() -> str:
    """~2 MB: a start node and 1,999 send_text nodes of 850 characters, chained."""
    nodes = [{"id": "start", "data": {"node_type": "start", "config": {}}}]
    nodes += [
        {"id": f"say_{i}", "data": {"node_type": "send_text", "config": {"message": "y" * 850}}}
        for i in range(1999)
    ]
    edges = [
        {"source": a["id"], "target": b["id"], "label": "next"}
        for a, b in itertools.pairwise(nodes)
    ]
    definition = {"nodes": nodes, "edges": edges}
    return json.dumps({"workflow": {"name": "big", "definition": definition}})


async def probe(base: str, stop: asyncio.Event) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while not stop.is_set():
            began = time.perf_counter()
            response = await http.get("/healthz")
            latencies.append(time.perf_counter() - began)
            assert response.status_code == 200, response.text
            await asyncio.sleep(PROBE_INTERVAL)
    return latencies


async def post_definitions(base: str, key: str, body: str, stop: asyncio.Event) -> list[float]:
    latencies = []
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as http:
        n = 0
        while not stop.is_set():
            n += 1
            began = time.perf_counter()
            response = await http.post(
                f"{P}/workflows", content=body.replace('"big"', f'"big {id(http)} {n}"', 1)
            )
            latencies.append(time.perf_counter() - began)
            assert response.status_code == 201, response.text[:300]
    return latencies


async def run(base: str, key: str, seconds: float, posters: int) -> list[dict[str, Any]]:
    body = big_definition()
    print(f"definition body: {len(body)} bytes", file=sys.stderr)
    # One create first, untimed: the worker process starts on first use (seconds on a
    # loaded machine); both configurations are then measured warm.
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=120) as http:
        warm = await http.post(
            f"{P}/workflows", content=body.replace('"big"', '"warm-up"', 1),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert warm.status_code == 201, warm.text[:300]
    stop = asyncio.Event()
    idle = asyncio.create_task(probe(base, stop))
    await asyncio.sleep(seconds / 4)
    stop.set()
    idle_latencies = await idle

    stop = asyncio.Event()
    began = time.perf_counter()
    prober = asyncio.create_task(probe(base, stop))
    loaders = [asyncio.create_task(post_definitions(base, key, body, stop)) for _ in range(posters)]
    await asyncio.sleep(seconds)
    stop.set()
    loaded = await prober
    posts = [x for task in loaders for x in await task]
    elapsed = time.perf_counter() - began
    return [
        summary("healthz idle", idle_latencies, seconds / 4),
        summary("healthz while posting 2 MB definitions", loaded, elapsed),
        summary("POST /workflows (2 MB, 2,000 nodes)", posts, elapsed),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--posters", type=int, default=2)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="run without worker processes (threads: before), then with them (after)",
    )
    parser.add_argument(
        "--before-src",
        type=Path,
        help="also serve convoflow from this source tree (its src/: e.g. `git archive` of "
        "an earlier commit) and measure it and this tree alternately, in one run",
    )
    parser.add_argument("--rounds", type=int, default=1, help="with --before-src: pairs")
    args = parser.parse_args()
    if args.before_src is not None:
        results = compare_sources(
            args.before_src, args.rounds, args.backend, args.seconds, args.posters
        )
    else:
        results = compare_workers(args.backend, args.seconds, args.posters, args.compare)
    print(json.dumps({"backend": args.backend, "posters": args.posters, "runs": results}, indent=2))


def compare_workers(
    backend: str, seconds: float, posters: int, compare: bool
) -> list[dict[str, Any]]:
    results = []
    for workers in ["0", "1"] if compare else [None]:
        if workers is not None:  # the server started by `serving` inherits the environment
            os.environ["CONVOFLOW_DEFINITION_WORKERS"] = workers
        report = measure(backend, seconds, posters)
        results.append({"definition_workers": workers or "default", "results": report})
    return results


def compare_sources(
    before: Path, rounds: int, backend: str, seconds: float, posters: int
) -> list[dict[str, Any]]:
    """Before and after alternately (`--rounds` pairs), so a change in the machine's load
    during the run falls on both alike. The server imports convoflow from PYTHONPATH."""
    results = []
    for round_ in range(rounds):
        for name, src in (("before", before.resolve() / "src"), ("after", ROOT / "src")):
            os.environ["PYTHONPATH"] = str(src)
            report = measure(backend, seconds, posters)
            load = os.getloadavg()[0]
            results.append({"source": name, "round": round_, "load": load, "results": report})
    return results


def measure(backend: str, seconds: float, posters: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="cf-bench-limits-") as tmp:
        url, cleanup = create_database(backend, Path(tmp))
        try:
            upgrade(url)
            key, _workflow, _big = asyncio.run(prepare(url, 0))
            with serving(url) as (base, _server):
                return asyncio.run(run(base, key, seconds, posters))
        finally:
            cleanup()


if __name__ == "__main__":
    main()
