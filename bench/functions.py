"""JavaScript function invocation overhead: the time `JsRunner.run` takes for a handler
that does almost nothing (parse the JSON body, answer it with Response.json), measured in
the server process: the request line to the worker process, the isolate's work, the answer
back. No database (secrets, KV and the invocation log are the service's, around this).

- warm: the function's isolate is already compiled in the worker (the usual case);
- cold isolate: a new function version each time (prelude + code compiled first), in a
  worker process that is already running;
- cold process: the first call after a worker died (timeout, memory limit) or at start;
- loop lag: while one handler loops forever (until the 2 s limit stops it), how late a
  10 ms `asyncio.sleep` on the server's event loop wakes up (what every other request
  would wait on), and how many warm invocations a second worker answered meanwhile.

    python bench/functions.py --calls 2000

Goal (issue 11): warm invocation <= 2 ms p50. Record figures in BENCHMARKS.md with the
command and the load (`uptime`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from common import percentile  # noqa: E402
from convoflow.engine.js.runner import JsRunner  # noqa: E402

ECHO = "async function handler(request, env) { return Response.json(await request.json()); }"
REQUEST = {"url": "https://fn.local/echo", "headers": {}, "body": '{"hello": "world"}'}


async def _host(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {}


async def _timed(runner: JsRunner, key: str) -> float:
    started = time.perf_counter()
    result = await runner.run(key, ECHO, REQUEST, {}, _host)
    elapsed = (time.perf_counter() - started) * 1000
    assert result.ok and result.body == '{"hello":"world"}', result
    return elapsed


def _line(name: str, values: list[float]) -> None:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    print(f"{name:<14} n={len(values):<5} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")


async def _lag_during_endless_loop() -> tuple[list[float], int, str]:
    runner = JsRunner(timeout_seconds=2.0, workers=2)
    await _timed(runner, "warm")
    endless = "async function handler() { await null; while (true) {} }"
    stuck = asyncio.create_task(runner.run("endless", endless, REQUEST, {}, _host))
    await asyncio.sleep(0.2)  # the loop is running in its worker by now
    lags: list[float] = []
    served = 0
    while not stuck.done():
        started = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append((time.perf_counter() - started) * 1000 - 10)
        await _timed(runner, "warm")
        served += 1
    error = (await stuck).error or "no error"
    await runner.close()
    return lags, served, error


async def main(calls: int, cold_calls: int, process_calls: int) -> None:
    cold_process = []
    for _ in range(process_calls):
        runner = JsRunner(workers=1)
        cold_process.append(await _timed(runner, "process"))
        await runner.close()
    runner = JsRunner(workers=1)
    await _timed(runner, "warm")
    warm = [await _timed(runner, "warm") for _ in range(calls)]
    cold = [await _timed(runner, f"cold-{i}") for i in range(cold_calls)]
    await runner.close()
    _line("warm", warm)
    _line("cold isolate", cold)
    _line("cold process", cold_process)
    lags, served, error = await _lag_during_endless_loop()
    _line("loop lag", lags)
    print(f"during the endless loop: {served} warm invocations served; it ended with: {error}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--cold-calls", type=int, default=200)
    parser.add_argument("--process-calls", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.cold_calls, args.process_calls))
