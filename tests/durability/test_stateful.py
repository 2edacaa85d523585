"""Hypothesis stateful test: random interleavings of user replies, duplicate webhook
deliveries, timeouts firing early and late, workers that die holding leases, advances
killed before their commit, and worker restarts — against the real engine and database.

Invariants, checked after every step:
- no input is consumed twice (each inbound message id appears in at most one
  `user_input_received` event), and each provider message id is stored once;
- a terminal status is never overwritten, and an execution's version never goes back;
- every execution's event sequence is gap-free (1..n);
- outbox idempotency keys are unique.
At the end of each run, once leases expire and the worker drains, nothing is left
pending: every message was routed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from convoflow.clock import FakeClock
from convoflow.config import Settings
from convoflow.engine.advance import Advance
from convoflow.engine.worker import Worker
from convoflow.process import Process, build_process
from convoflow.services.conversations import routing, sandbox
from convoflow.store import jobs as job_store
from convoflow.store import messages as message_store
from convoflow.store.schema import execution_events, executions, messages, outbox
from tests.support import make_project, make_workflow, node

LEASE_SECONDS = 30.0
TIMEOUT_SECONDS = 60


def echo_flow() -> dict[str, Any]:
    nodes = [
        node("start", "start"),
        node("greet", "send_text", message="hello"),
        node(
            "wait",
            "wait_for_response",
            has_timeout=True,
            timeout_seconds=TIMEOUT_SECONDS,
            save_response_to="answer",
        ),
        node(
            "check",
            "decide",
            decision_type="rules",
            conditions=[
                {"label": "timeout", "expression": "system.last_resume.reason == 'timeout'"},
                {"label": "stop", "expression": "vars.answer == 'stop'"},
                {"label": "echo"},
            ],
        ),
        node("nudge", "send_text", message="still there?"),
        node("echo", "send_text", message="echo {{vars.answer}}"),
        node("bye", "send_text", message="bye"),
    ]
    edges = [
        {"source": "start", "target": "greet"},
        {"source": "greet", "target": "wait"},
        {"source": "wait", "target": "check"},
        {"source": "check", "target": "nudge", "label": "timeout"},
        {"source": "check", "target": "bye", "label": "stop"},
        {"source": "check", "target": "echo", "label": "echo"},
        {"source": "nudge", "target": "wait"},
        {"source": "echo", "target": "wait"},
    ]
    return {"nodes": nodes, "edges": edges}


class Crash(Exception):
    """Raised inside an operation to roll its transaction back, as a kill would."""


def make_machine(loop: asyncio.AbstractEventLoop, engine: Process, clock: FakeClock) -> type:
    run = loop.run_until_complete
    example_ids = itertools.count()

    class EngineMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.example = next(example_ids)
            self.project_id = run(make_project(engine, f"stateful-{self.example}"))
            self.workflow_id = run(make_workflow(engine, self.project_id, echo_flow()))
            self.conversations: list[str] = []
            self.sent: list[tuple[str, str, str]] = []  # (conversation, wamid, text)
            self.wamids = itertools.count()
            self.terminal: dict[str, tuple[str, Any]] = {}
            self.versions: dict[str, int] = {}
            self.worker = Worker(engine.runtime, engine.dispatcher, worker_id="w0")
            self.restarts = 0
            self.open_conversation()

        # --- rules ---------------------------------------------------------------------

        @rule()
        def open_conversation(self) -> None:
            conversation_id = run(
                sandbox.open_conversation(
                    engine,
                    project_id=self.project_id,
                    workflow_id=self.workflow_id,
                    user=f"u{self.example}-{len(self.conversations)}",
                )
            )
            self.conversations.append(conversation_id)

        @rule(which=st.integers(0, 50), text=st.sampled_from(["hi", "a", "b", "stop", "42"]))
        def user_replies(self, which: int, text: str) -> None:
            conversation_id = self.conversations[which % len(self.conversations)]
            wamid = f"wamid.{self.example}.{next(self.wamids)}"
            assert run(self._receive(conversation_id, wamid, text)) is not None
            self.sent.append((conversation_id, wamid, text))

        @precondition(lambda self: bool(self.sent))
        @rule(which=st.integers(0, 1000))
        def webhook_redelivered(self, which: int) -> None:
            conversation_id, wamid, text = self.sent[which % len(self.sent)]
            assert run(self._receive(conversation_id, wamid, text)) is None

        @rule(
            seconds=st.sampled_from(
                [
                    1,
                    20,
                    TIMEOUT_SECONDS - 1,
                    TIMEOUT_SECONDS,
                    TIMEOUT_SECONDS + 1,
                    LEASE_SECONDS + 1,
                    3600,
                ]
            )
        )
        def time_passes(self, seconds: int) -> None:
            clock.advance(seconds)

        @rule()
        def worker_runs(self) -> None:
            run(self.worker.drain())

        @rule(limit=st.integers(1, 5))
        def worker_runs_a_little(self, limit: int) -> None:
            run(self.worker.run_jobs_once())
            run(engine.dispatcher.run_once())

        @rule()
        def worker_dies_holding_leases(self) -> None:
            """A worker claims due jobs and dies before doing them: they stay leased
            until the lease runs out, then another worker must pick them up."""
            now = clock.now()

            async def claim(conn: Any, _hooks: Any) -> Any:
                return await job_store.claim_due_jobs(
                    conn, worker_id="dead", now=now, lease_seconds=LEASE_SECONDS, limit=3
                )

            run(engine.runtime.committer.run(claim))

        @rule()
        def worker_restarts(self) -> None:
            self.restarts += 1
            self.worker = Worker(engine.runtime, engine.dispatcher, worker_id=f"w{self.restarts}")

        @rule(which=st.integers(0, 50))
        def killed_before_commit(self, which: int) -> None:
            """Route a conversation and die before the commit: nothing may change."""
            conversation_id = self.conversations[which % len(self.conversations)]
            before = run(self._snapshot())

            async def route_then_die(adv: Advance) -> None:
                await routing.route_conversation(adv, conversation_id)
                await adv.flush()
                raise Crash()

            with contextlib.suppress(Crash):
                run(engine.runtime.op(route_then_die))
            assert run(self._snapshot()) == before

        # --- invariants ------------------------------------------------------------------

        @invariant()
        def invariants_hold(self) -> None:
            run(self._check())

        def teardown(self) -> None:
            clock.advance(LEASE_SECONDS + 1)
            run(Worker(engine.runtime, engine.dispatcher, worker_id="final").drain())
            run(self._check())
            pending = run(
                self._count(
                    sa.select(sa.func.count())
                    .select_from(messages)
                    .where(messages.c.project_id == self.project_id)
                    .where(messages.c.routing == "pending")
                )
            )
            assert pending == 0, "every message is routed once the worker has drained"

        # --- helpers ---------------------------------------------------------------------

        async def _receive(self, conversation_id: str, wamid: str, text: str) -> str | None:
            async def receive(adv: Advance) -> str | None:
                conversation = await message_store.get_conversation(adv.conn, conversation_id)
                assert conversation is not None
                return await routing.receive_message(
                    adv,
                    conversation,
                    message={"type": "text", "text": text, "input": text, "channel": "sandbox"},
                    provider_message_id=wamid,
                )

            return await engine.runtime.op(receive)

        async def _count(self, stmt: Any) -> int:
            async with engine.db.read() as conn:
                return int((await conn.execute(stmt)).scalar() or 0)

        async def _snapshot(self) -> Any:
            async with engine.db.read() as conn:
                rows = (
                    await conn.execute(
                        sa.select(executions.c.id, executions.c.version, executions.c.status)
                        .where(executions.c.project_id == self.project_id)
                        .order_by(executions.c.id)
                    )
                ).all()
                routed = (
                    await conn.execute(
                        sa.select(messages.c.id, messages.c.routing)
                        .where(messages.c.project_id == self.project_id)
                        .order_by(messages.c.id)
                    )
                ).all()
                events = (
                    await conn.execute(
                        sa.select(sa.func.count())
                        .select_from(execution_events)
                        .join(executions, executions.c.id == execution_events.c.execution_id)
                        .where(executions.c.project_id == self.project_id)
                    )
                ).scalar()
            return [tuple(r) for r in rows], [tuple(r) for r in routed], events

        async def _check(self) -> None:
            async with engine.db.read() as conn:
                mine = executions.c.project_id == self.project_id
                rows = (
                    await conn.execute(
                        sa.select(
                            executions.c.id,
                            executions.c.status,
                            executions.c.version,
                            executions.c.ended_at,
                        ).where(mine)
                    )
                ).all()
                for execution_id, status, version, ended_at in rows:
                    assert version >= self.versions.get(execution_id, 0)
                    self.versions[execution_id] = version
                    if execution_id in self.terminal:
                        assert self.terminal[execution_id] == (status, ended_at)
                    elif status in ("ended", "failed"):
                        self.terminal[execution_id] = (status, ended_at)
                inputs = (
                    (
                        await conn.execute(
                            sa.select(execution_events.c.payload)
                            .join(executions, executions.c.id == execution_events.c.execution_id)
                            .where(mine)
                            .where(execution_events.c.event_type == "user_input_received")
                        )
                    )
                    .scalars()
                    .all()
                )
                consumed = Counter(m for payload in inputs for m in payload["message_ids"])
                assert not consumed or max(consumed.values()) == 1, consumed.most_common(3)
                stored = Counter(
                    (
                        await conn.execute(
                            sa.select(messages.c.provider_message_id)
                            .where(messages.c.project_id == self.project_id)
                            .where(messages.c.direction == "inbound")
                        )
                    )
                    .scalars()
                    .all()
                )
                assert not stored or max(stored.values()) == 1
                seqs = (
                    await conn.execute(
                        sa.select(
                            sa.func.count(),
                            sa.func.min(execution_events.c.seq),
                            sa.func.max(execution_events.c.seq),
                        )
                        .join(executions, executions.c.id == execution_events.c.execution_id)
                        .where(mine)
                        .group_by(execution_events.c.execution_id)
                    )
                ).all()
                assert all(low == 1 and high == count for count, low, high in seqs)
                keys = (
                    await conn.execute(
                        sa.select(
                            sa.func.count(), sa.func.count(sa.distinct(outbox.c.idempotency_key))
                        ).where(outbox.c.project_id == self.project_id)
                    )
                ).one()
                assert keys[0] == keys[1]

    return EngineMachine


def test_random_interleavings_keep_the_invariants(db_url: str) -> None:
    loop = asyncio.new_event_loop()
    clock = FakeClock()
    engine = build_process(
        db_url, clock=clock, settings=Settings(job_lease_seconds=LEASE_SECONDS), pool_size=5
    )
    try:
        machine = make_machine(loop, engine, clock)
        machine.TestCase.settings = settings(
            max_examples=12,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        machine.TestCase().runTest()
    finally:
        loop.run_until_complete(engine.close())
        loop.close()
