"""Kill the worker with SIGKILL at random moments while 200 conversations run.

The worker is a real subprocess (`convoflow worker`, forked by worker_forks.py); this
test process plays the users (inbound messages through the same routing path WhatsApp
uses) and keeps killing and restarting the worker. Afterwards every conversation must
have reached its expected end with exactly the expected bot messages — nothing lost,
nothing sent twice — each user input consumed once, and every webhook step called under
one stable Idempotency-Key (a call may repeat after a crash, always with the same key).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from convoflow.config import Settings
from convoflow.process import Process, build_process
from convoflow.services.conversations import sandbox
from convoflow.store.schema import execution_events, executions, messages, outbox
from tests.durability import fork_client
from tests.durability.fork_client import ForkServer
from tests.durability.pg_cluster import steady_port
from tests.durability.receiver import Receiver
from tests.support import make_project, make_workflow, node

CONVERSATIONS = 200
KILLS = 12
DEADLINE_SECONDS = 240
FORKS = Path(__file__).with_name("worker_forks.py")
ROOT = Path(__file__).resolve().parents[2]


def crash_flow(hook_url: str) -> dict[str, Any]:
    nodes = [
        node("start", "start"),
        node("ask", "send_text", message="How old are you?"),
        node(
            "wait_age",
            "wait_for_response",
            has_timeout=True,
            timeout_seconds=3600,
            save_response_to="age",
        ),
        node(
            "hook",
            "webhook",
            url=hook_url,
            method="POST",
            body_template={"age": "{{vars.age}}", "conversation": "{{context.conversation_id}}"},
            save_response_to="hook",
        ),
        node(
            "check",
            "decide",
            decision_type="rules",
            conditions=[
                {"label": "adult", "expression": "int(vars.age) >= 18"},
                {"label": "minor"},
            ],
        ),
        node("adult", "set_variable", variable_name="segment", variable_value="adult"),
        node("minor", "set_variable", variable_name="segment", variable_value="minor"),
        node("thanks", "send_text", message="Thanks, {{vars.segment}} aged {{vars.age}}."),
        node("more", "send_text", message="Anything else?"),
        node("wait_more", "wait_for_response"),
        node("bye", "send_text", message="Bye: {{vars.last_user_input}}"),
    ]
    pairs = [
        ("start", "ask"),
        ("ask", "wait_age"),
        ("wait_age", "hook"),
        ("hook", "check"),
        ("adult", "thanks"),
        ("minor", "thanks"),
        ("thanks", "more"),
        ("more", "wait_more"),
        ("wait_more", "bye"),
    ]
    edges = [{"source": a, "target": b, "label": "next"} for a, b in pairs]
    edges += [
        {"source": "check", "target": "adult", "label": "adult"},
        {"source": "check", "target": "minor", "label": "minor"},
    ]
    return {"nodes": nodes, "edges": edges}


def expected_transcript(age: int) -> list[str]:
    segment = "adult" if age >= 18 else "minor"
    return [
        "How old are you?",
        f"Thanks, {segment} aged {age}.",
        "Anything else?",
        f"Bye: done {age}",
    ]


class WorkerProcess:
    """`convoflow worker`, forked afresh for each start by worker_forks.py (a restart
    costs the worker's start-up, not Python's imports: 4-7 s at load 7 on 2 cores); its
    metrics port answers once it is up (`ready`)."""

    def __init__(self, db_url: str) -> None:
        self.env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            CONVOFLOW_DATABASE_URL=db_url,
            CONVOFLOW_JOB_LEASE_SECONDS="1",
            CONVOFLOW_OUTBOX_LEASE_SECONDS="1",
            CONVOFLOW_WORKER_POLL_SECONDS="0.05",
            CONVOFLOW_ALLOW_PRIVATE_NETWORK="true",
            CONVOFLOW_LOG_LEVEL="WARNING",
        )
        self.forks: ForkServer | None = None
        self.pid: int | None = None
        self.port = 0
        self.kills = 0

    async def start(self) -> None:
        if self.forks is None:
            self.forks = await ForkServer.open(FORKS, env=self.env)
        self.port = steady_port()  # bound later, by the forked worker
        self.pid = await self.forks.fork(str(self.port))

    def ready(self) -> bool:
        """Whether the worker runs its loops (its metrics port answers)."""
        assert self.pid is not None
        assert fork_client.alive(self.pid), "the worker exited by itself"
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    async def kill(self) -> None:
        assert self.pid is not None
        await fork_client.kill(self.pid)
        self.pid = None
        self.kills += 1

    async def stop(self) -> None:
        await fork_client.stop(self.pid)
        self.pid = None
        if self.forks is not None:
            await self.forks.close()


class Killer:
    """Kills and restarts the worker at random moments, a gap drawn from `gap` seconds
    after each start is up (`WorkerProcess.ready`), until it was killed `kills` times.
    Counted from readiness, not from the start: with the gap counted from the start and
    a fresh interpreter each time, all 12 kills struck restarted workers in their imports
    (0 execution events committed between any two kills, at load 8)."""

    def __init__(
        self, worker: WorkerProcess, kills: int, *, seed: int, gap: tuple[float, float]
    ) -> None:
        self.worker, self.kills, self.gap = worker, kills, gap
        self.rng = random.Random(seed)
        self.next_at: float | None = None

    async def maybe_kill(self) -> bool:
        """Kill if due; True when a start was found up (a new worker is at work)."""
        if self.done:
            return False
        if self.next_at is None:
            if self.worker.ready():
                self.next_at = time.monotonic() + self.rng.uniform(*self.gap)
                return True
        elif time.monotonic() >= self.next_at:
            await self.worker.kill()
            await self.worker.start()
            self.next_at = None
        return False

    @property
    def done(self) -> bool:
        return self.worker.kills >= self.kills


async def outbound_transcripts(conn: Any, conversation_ids: Any) -> dict[str, list[str]]:
    """Each conversation's bot messages (text), in order."""
    transcripts: dict[str, list[str]] = {cid: [] for cid in conversation_ids}
    result = await conn.execute(
        sa.select(messages.c.conversation_id, messages.c.content)
        .where(messages.c.direction == "outbound")
        .order_by(messages.c.created_at, messages.c.id)
    )
    for row in result:
        transcripts[row.conversation_id].append(row.content["text"])
    return transcripts


async def _waiting_at(engine: Process) -> dict[str, str]:
    """conversation id -> node the conversation's execution is waiting on."""
    async with engine.db.read() as conn:
        result = await conn.execute(
            sa.select(executions.c.conversation_id, executions.c.current_node_id).where(
                executions.c.status == "waiting"
            )
        )
        return {row.conversation_id: row.current_node_id for row in result}


async def _finished(engine: Process, conversations: int) -> bool:
    """Every execution over and every queued message sent (or failed)."""
    async with engine.db.read() as conn:
        done = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(executions)
                .where(executions.c.status.in_(("ended", "failed")))
            )
        ).scalar()
        unsent = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(outbox.c.status.in_(("pending", "sending")))
            )
        ).scalar()
    return done == conversations and unsent == 0


async def _play_users(engine: Process, ages: dict[str, int], worker: WorkerProcess) -> None:
    """Start the conversations in waves, one as each worker comes up, and answer each
    conversation's waits, once per turn, while the worker is killed at random moments.
    (All at once, the worker finished every conversation within the first 2 of 12 kills.)"""
    turn = dict.fromkeys(ages, 1)  # 1: "hi" sent, waiting for the age question
    waves = [list(ages)[index :: KILLS + 1] for index in range(KILLS + 1)]
    killer = Killer(worker, KILLS, seed=20261123, gap=(0.2, 1.0))
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if (await killer.maybe_kill() or killer.done) and waves:
            for conversation_id in waves.pop(0):  # the first message starts it
                await sandbox.say(engine, conversation_id, "hi")
        waiting = await _waiting_at(engine)
        for conversation_id, node_id in waiting.items():
            if node_id == "wait_age" and turn[conversation_id] == 1:
                turn[conversation_id] = 2
                await sandbox.say(engine, conversation_id, str(ages[conversation_id]))
            elif node_id == "wait_more" and turn[conversation_id] == 2:
                turn[conversation_id] = 3
                await sandbox.say(engine, conversation_id, f"done {ages[conversation_id]}")
        if killer.done and await _finished(engine, len(ages)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"conversations did not finish within {DEADLINE_SECONDS}s ({worker.kills} kills)"
    )


@pytest.mark.slow
async def test_sigkill_worker_loses_and_repeats_nothing(db_url: str) -> None:
    engine = build_process(db_url, settings=Settings(worker_poll_seconds=0.05))
    worker = WorkerProcess(db_url)
    try:
        with Receiver() as receiver:
            project_id = await make_project(engine, allow_private_network=True)
            workflow_id = await make_workflow(engine, project_id, crash_flow(receiver.url))
            ages: dict[str, int] = {}
            for index in range(CONVERSATIONS):
                conversation_id = await sandbox.open_conversation(
                    engine, project_id=project_id, workflow_id=workflow_id, user=f"user{index}"
                )
                ages[conversation_id] = 10 + index % 20
            await worker.start()
            await _play_users(engine, ages, worker)
            calls = Counter(receiver.calls)
        await _check_outcome(engine, ages, calls)
        assert worker.kills >= KILLS
    finally:
        await worker.stop()
        await engine.close()


async def _check_outcome(engine: Process, ages: dict[str, int], calls: Counter[str]) -> None:
    async with engine.db.read() as conn:
        rows = (await conn.execute(sa.select(executions))).mappings().all()
        assert len(rows) == len(ages)  # one execution per conversation: no duplicate start
        for row in rows:
            age = ages[row["conversation_id"]]
            assert row["status"] == "ended", (row["status"], row["error_details"])
            assert row["context"]["vars"]["segment"] == ("adult" if age >= 18 else "minor")
            hook = row["context"]["vars"]["hook"]
            assert hook["echo"] == {"age": str(age), "conversation": row["conversation_id"]}
            assert calls[hook["key"]] >= 1
        transcripts = await outbound_transcripts(conn, ages)
        for conversation_id, age in ages.items():
            assert transcripts[conversation_id] == expected_transcript(age)
        sent = (
            await conn.execute(
                sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
            )
        ).all()
        assert dict(sent) == {"sent": 4 * len(ages)}
        pending = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(messages)
                .where(messages.c.routing == "pending")
            )
        ).scalar()
        assert pending == 0
        inputs = (
            await conn.execute(
                sa.select(execution_events.c.execution_id, sa.func.count())
                .where(execution_events.c.event_type == "user_input_received")
                .group_by(execution_events.c.execution_id)
            )
        ).all()
        assert sorted(count for _, count in inputs) == [2] * len(ages)
        seqs = (
            await conn.execute(
                sa.select(
                    execution_events.c.execution_id,
                    sa.func.count(),
                    sa.func.max(execution_events.c.seq),
                    sa.func.min(execution_events.c.seq),
                ).group_by(execution_events.c.execution_id)
            )
        ).all()
        assert all(count == high and low == 1 for _, count, high, low in seqs)
    # One key per conversation's webhook visit; repeats (crash after the call) reuse it.
    assert len(calls) == len(ages)
