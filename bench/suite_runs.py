"""A stored suite's run (`POST /workflows/{id}/test_runs`) and the server's event loop:
how late a 10 ms `asyncio.sleep` on the host loop wakes up while runs go on (what every
other request of the server would wait on), and how long a run takes, for the two ways
of running it, in one process and one invocation:

- thread: `SuiteRuns.execute`, what the server does (a thread with an event loop of its
  own, testing/stored.py);
- same loop: `SuiteRuns.run_here` awaited on the host loop (what running it in the
  request handler would do).

The suite is examples/canonical.test.yaml (5 cases, a 1-hour `advance_time`) against
examples/canonical.json, as the console would store it (without `flow:`).

    python bench/suite_runs.py --runs 10

Record figures in BENCHMARKS.md with the command and the load (`uptime`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from common import percentile  # noqa: E402
from convoflow.config import Settings  # noqa: E402
from convoflow.testing.model import Suite  # noqa: E402
from convoflow.testing.parsing import parse_suite  # noqa: E402
from convoflow.testing.stored import SuiteRuns  # noqa: E402

PROBE_SECONDS = 0.010


def _suite() -> Suite:
    text = (ROOT / "examples" / "canonical.test.yaml").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.startswith("flow:"))
    definition = json.loads((ROOT / "examples" / "canonical.json").read_text())["definition"]
    return parse_suite(text, Path("canonical"), stored=True, definition=definition)


async def _probe(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(PROBE_SECONDS)
        lags.append((time.perf_counter() - started - PROBE_SECONDS) * 1000)


async def _measure(
    name: str, run: Callable[[Suite], Awaitable[list[Any]]], suite: Suite, runs: int
) -> None:
    lags: list[float] = []
    durations: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(_probe(stop, lags))
    for _ in range(runs):
        started = time.perf_counter()
        results = await run(suite)
        durations.append((time.perf_counter() - started) * 1000)
        assert all(r.outcome == "passed" for r in results), results
    stop.set()
    await probe
    print(
        f"{name:<10} runs={runs:<3} run p50 {percentile(durations, 0.5):7.1f} ms"
        f"   loop lag p50 {percentile(lags, 0.5):6.2f} ms  p99 {percentile(lags, 0.99):7.2f} ms"
        f"  max {max(lags):7.2f} ms  (n={len(lags)})"
    )


async def main(runs: int) -> None:
    suite = _suite()
    runner = SuiteRuns(Settings())
    await _measure("warm-up", runner.execute, suite, 1)
    # As `convoflow serve` does once started: what exists now is out of the collector's
    # sight (a full collection set off by a run's allocations would walk it holding the
    # GIL: a stall of the server's loop that no thread avoids).
    gc.freeze()
    # Alternated, so a change of the machine's load falls on both.
    for _ in range(2):
        await _measure("thread", runner.execute, suite, runs)
        await _measure("same loop", runner.run_here, suite, runs)
    await runner.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    asyncio.run(main(parser.parse_args().runs))
