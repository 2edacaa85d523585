"""Agent-turn overhead, the model excluded: one agent node loops `--turns` times (each
answer is one tool call, `get_current_datetime`, so the loop never waits), and the model
answers instantly in-process (an `LLMClient` whose attempt returns at once, no HTTP), so
what is measured is the engine's own work per turn: the action job claimed, the journal
read, the answer journaled and delivered, the tool run, the next turn journaled, the
commit. A turn's time is the gap between consecutive `agent_turn` events (each is
stamped with its advance's start); `cpu_ms_per_turn` is this process's CPU time per turn
(for PostgreSQL the server's own CPU is not in it).

    python bench/agent.py --backend sqlite --turns 500
    python bench/agent.py --backend postgresql --turns 500
    python bench/agent.py --backend sqlite --turns 300 --compare /path/to/other/checkout --rounds 3

`--compare` runs the other checkout's `bench/agent.py` (its own code: e.g. main before a
change, in a `git worktree`) and this one alternately, `--rounds` times each, in
subprocesses on the same machine, each line with the load average around it: a
before/after comparison in one run, with the load each figure was taken at.

Goal (issue 11): agent turn overhead <= 5 ms p50. Record figures in BENCHMARKS.md with
the command and the load (`uptime`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from common import compare_alternately, percentile  # noqa: E402
from convoflow.engine.llm.client import LLMClient  # noqa: E402
from convoflow.engine.llm.model import LLMRequest, LLMResult, Provider, ToolCall  # noqa: E402
from convoflow.process import Process, build_process  # noqa: E402
from convoflow.services.ai import provider_models  # noqa: E402
from convoflow.services.common import Actor  # noqa: E402
from convoflow.store.schema import execution_events  # noqa: E402
from engine import create_database, settings, setup_workflow  # noqa: E402


class InstantModel(LLMClient):
    """Answers every turn at once with one tool call: the model's time is not measured."""

    ids = itertools.count(1)

    async def attempt(
        self, provider: Provider, request: LLMRequest, *, project_id: str | None, attempt: int
    ) -> tuple[LLMResult, float | None]:
        call = ToolCall(f"call_{next(self.ids)}", "get_current_datetime", {})
        return LLMResult(
            ok=True, tool_calls=(call,), input_tokens=1, output_tokens=1, latency_ms=0, attempts=1
        ), None


def definition(turns: int) -> dict[str, Any]:
    agent = {"system_prompt": "bench", "provider_model_name": "instant", "max_iterations": turns}
    return {
        "nodes": [
            {"id": "start", "data": {"node_type": "start", "config": {}}},
            {"id": "agent", "data": {"node_type": "agent", "config": agent}},
        ],
        "edges": [{"source": "start", "target": "agent", "label": "next"}],
    }


async def setup(engine: Process, turns: int) -> tuple[str, str]:
    project_id, workflow_id = await setup_workflow(engine, definition(turns), name="agent")
    fields = provider_models.ModelFields(
        name="instant", provider="openai", base_url="http://model.invalid/v1", api_key="x"
    )
    await provider_models.create(engine, Actor(project_id=project_id), fields)
    return project_id, workflow_id


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    engine = build_process(url, settings=settings())
    engine.runtime.llm = InstantModel(engine.runtime.egress)  # the model, excluded
    try:
        project_id, workflow_id = await setup(engine, args.turns)
        started, cpu_started = time.perf_counter(), time.process_time()
        state = await engine.runtime.start_execution(
            project_id=project_id,
            workflow_id=workflow_id,
            trigger_type="api_call",
            context={"channel": "sandbox"},
        )
        await engine.worker.drain()
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        table = execution_events
        query = (
            sa.select(table.c.created_at)
            .where(table.c.execution_id == state.id, table.c.event_type == "agent_turn")
            .order_by(table.c.seq)
        )
        async with engine.db.read() as conn:
            stamps = list((await conn.execute(query)).scalars())
        gaps = [(b - a).total_seconds() * 1000 for a, b in itertools.pairwise(stamps)]
        return {
            "backend": args.backend,
            "turns": len(stamps),
            "turn_ms_p50": round(percentile(gaps, 0.5), 2),
            "turn_ms_p99": round(percentile(gaps, 0.99), 2),
            "turns_per_s": round(len(stamps) / wall, 1),
            # This process's CPU (the SQLite driver's thread included) per turn: what the
            # load of other processes on the machine does not inflate.
            "cpu_ms_per_turn": round(cpu * 1000 / max(1, len(stamps)), 2),
        }
    finally:
        await engine.close()


def compare(args: argparse.Namespace) -> None:
    options = ["--backend", args.backend, "--turns", str(args.turns)]
    runs = compare_alternately("agent.py", args.compare, ROOT, options, args.rounds)
    for tree, round_, figures, load in runs:
        print(json.dumps({"tree": tree, "round": round_, **figures, "load": load}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--compare", help="another checkout to run alternately with this one")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.compare:
        compare(args)
        return
    url, drop = create_database(args.backend)  # migrations run their own event loop
    try:
        print(json.dumps(asyncio.run(run(args, url))))
    finally:
        drop()


if __name__ == "__main__":
    main()
