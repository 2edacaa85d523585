"""Kill -9 the WhatsApp server while conversations run: the harness of
tests/durability/test_send_crash.py (small) and bench/chaos.py (full).

Processes: this one plays Meta (the fake Graph API on a loopback port: it accepts sends,
emits `sent` statuses echoing biz_opaque_callback_data and redelivers webhooks the server
did not take, as Meta does) and the users (each writes "hi", answers the age question,
and gets a goodbye); the server is a real `convoflow serve` subprocess (API and worker)
that is SIGKILLed at random moments and restarted from a warm standby. Afterwards the
messages each user received at the fake are counted: lost, duplicated, out of order;
and each inbound wamid must have been taken once.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from convoflow.fakes.graph.server import DEFAULT_PHONE_NUMBER_ID, FakeGraph
from convoflow.fakes.loopback import serve_app
from convoflow.process import Process, build_process
from convoflow.services.common import Actor
from convoflow.services.whatsapp import phone_numbers
from convoflow.store.schema import outbox, triggers
from convoflow.store.schema import workflows as workflow_table
from tests.durability import fork_client
from tests.durability.chaos_count import Report, count_run, text_of
from tests.durability.chaos_where import Progress, where_things_stood
from tests.durability.fork_client import ForkServer
from tests.durability.pg_cluster import steady_port
from tests.support import chain, make_project, make_workflow, node

NUMBER = DEFAULT_PHONE_NUMBER_ID
SECRET = "chaos-app-secret"
SERVER = Path(__file__).with_name("chaos_server.py")
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Pace:
    """When the harness kills. `uptime`: seconds the server lives after its /healthz
    answers (then it is killed, whatever is in flight); `start_every`: users arrive this
    far apart; `deadline`: seconds from the first start until every user said bye, else the run
    fails saying where it stood (keep it well under the test's timeout, or only the
    timeout shows); `up_within`: seconds a started server has to answer /healthz."""

    uptime: tuple[float, float] = (1.0, 2.5)
    start_every: float = 0.1
    deadline: float = 300.0
    up_within: float = 30.0


def chaos_flow() -> dict[str, Any]:
    return chain(
        node("start", "start"),
        node("hello", "send_text", message="Hello!"),
        node("ask", "send_text", message="How old are you?"),
        node("wait", "wait_for_response", save_response_to="age"),
        node("thanks", "send_text", message="Thanks, {{vars.age}}."),
        node("bye", "send_text", message="Bye."),
    )


class Servers:
    """The server on one port, forked afresh by chaos_server.py for each start."""

    def __init__(self, forks: ForkServer) -> None:
        self.forks = forks
        self.live: int | None = None
        self.starts: list[float] = []  # time.time() of each start (Report.status_lag_since_start)

    @classmethod
    async def open(cls, port: int, env: dict[str, str]) -> Servers:
        log = os.environ.get("CHAOS_SERVER_LOG")  # to read the servers' complaints
        return cls(await ForkServer.open(SERVER, str(port), env=env, log=log))

    async def start(self) -> None:
        self.starts.append(time.time())
        self.live = await self.forks.fork("go")

    async def kill(self) -> None:
        assert self.live is not None
        await fork_client.kill(self.live)
        self.live = None

    async def stop(self) -> None:
        await fork_client.stop(self.live)
        self.live = None
        await self.forks.close()


async def _setup(engine: Process) -> None:
    project_id = await make_project(engine, "chaos")
    workflow_id = await make_workflow(engine, project_id, chaos_flow())

    async def trigger(adv: Any) -> None:
        await adv.conn.execute(
            workflow_table.update()
            .where(workflow_table.c.id == workflow_id)
            .values(message_debounce_seconds=0)
        )
        await adv.conn.execute(
            triggers.insert().values(
                id=str(uuid.uuid4()), project_id=project_id, workflow_id=workflow_id,
                trigger_type="inbound_message", active=True, phone_number_id=NUMBER,
                created_at=adv.now, updated_at=adv.now,
            )
        )  # fmt: skip

    await engine.runtime.op(trigger)
    spec = phone_numbers.NumberSpec(NUMBER, "chaos-token", SECRET, "chaos-verify")
    # Set up as an operator would (`--no-verify`): the fake Graph is not up yet.
    await phone_numbers.add_number(engine, Actor(project_id=project_id), spec, verify=False)


async def _say(fake: FakeGraph, user: str, text: str, wamid: str, after: float = 0.0) -> None:
    """The user writes once; Meta delivers that same wamid until the server takes it."""
    await asyncio.sleep(after)
    while True:
        result = await fake.simulate_inbound({"from": user, "text": text, "wamid": wamid})
        if result["webhook_status"] == 200:
            return
        await asyncio.sleep(0.1)


async def _healthy(url: str, http: httpx.AsyncClient, limit: float) -> bool:
    """Whether /healthz answers 200 within `limit` seconds. The limit bounds the request
    in flight too: a server that has bound its port holds a connection until its start-up
    is done, and that 200 may come long after the limit."""

    async def poll() -> None:
        while True:
            try:
                if (await http.get(f"{url}/healthz", timeout=1.0)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), limit)
    except TimeoutError:
        return False
    return True


async def _attempts_in_flight(engine: Process) -> set[tuple[str, int]]:
    """(outbox id, attempt) of every attempt journaled without a recorded result."""
    async with engine.db.read() as conn:
        result = await conn.execute(
            sa.select(outbox.c.id, outbox.c.attempts).where(outbox.c.status == "sending")
        )
        return {(str(row.id), int(row.attempts)) for row in result}


async def _unresolved(engine: Process) -> Counter[str]:
    async with engine.db.read() as conn:
        result = await conn.execute(
            sa.select(outbox.c.status, sa.func.count())
            .where(outbox.c.status.in_(("pending", "sending", "uncertain")))
            .group_by(outbox.c.status)
        )
        return Counter({str(status): int(count) for status, count in result})


def server_env(db_url: str, graph_url: str, hold: float) -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        CONVOFLOW_DATABASE_URL=db_url,
        CONVOFLOW_GRAPH_BASE_URL=f"{graph_url}/v23.0",
        CONVOFLOW_GRAPH_CONVERSATION_INTERVAL_SECONDS="0",
        CONVOFLOW_GRAPH_RATE_PER_SECOND="100000",
        CONVOFLOW_JOB_LEASE_SECONDS="1",
        # Short, so a killed server's attempts are found soon; long enough that a live
        # send on a loaded machine is rarely mistaken for a lost one.
        CONVOFLOW_OUTBOX_LEASE_SECONDS="3",
        CONVOFLOW_SEND_RECONCILE_SECONDS=str(hold),
        CONVOFLOW_WORKER_POLL_SECONDS="0.05",
        CONVOFLOW_LOG_LEVEL="WARNING",
    )


async def run_chaos(
    db_url: str,
    *,
    conversations: int,
    kills: int,
    statuses: bool = True,
    hold: float = 30.0,
    pace: Pace | None = None,
    seed: int = 20261130,
) -> Report:
    """`db_url` is a migrated, empty database. A run that does not finish within
    `pace.deadline`, or whose server does not come up, fails saying where it stood."""
    pace = pace or Pace()
    report = Report(conversations, kills, statuses)
    engine = build_process(db_url, pool_size=2)
    fake = FakeGraph(
        app_secret=SECRET, statuses=["sent"] if statuses else [],
        status_delay_seconds=0.0, redeliver_seconds=pace.deadline,
    )  # fmt: skip
    rng = random.Random(seed)
    port = steady_port()  # bound again by every restarted server
    url = f"http://127.0.0.1:{port}"
    ages = {f"1555{index:07d}": 18 + index % 50 for index in range(conversations)}
    progress = Progress()
    started = time.monotonic()
    try:
        await _setup(engine)
        async with serve_app(fake.app) as graph_url, httpx.AsyncClient() as http:
            fake.configure({"webhook_url": f"{url}/webhooks/whatsapp"})
            servers = await Servers.open(port, server_env(db_url, graph_url, hold))
            try:
                async with asyncio.timeout(pace.deadline) as limit:
                    await _drive(
                        engine, fake, servers, http, url, ages, rng, pace, report, progress
                    )
            except (TimeoutError, Stuck) as exc:
                reason = (
                    f"conversations did not finish within {pace.deadline:g}s"
                    if limit.expired()
                    else str(exc)
                )
                where = await where_things_stood(engine, fake, ages, progress, report)
                raise AssertionError(f"{reason}: {where}") from None
            finally:
                await servers.stop()
                await fake.aclose()
        report.seconds = round(time.monotonic() - started, 1)
        await count_run(engine, fake, ages, report, servers.starts)
    finally:
        await engine.close()
    return report


class Stuck(Exception):
    """The run cannot go on (a server did not come up); run_chaos says where it stood."""


async def _drive(
    engine: Process,
    fake: FakeGraph,
    servers: Servers,
    http: httpx.AsyncClient,
    url: str,
    ages: dict[str, int],
    rng: random.Random,
    pace: Pace,
    report: Report,
    progress: Progress,
) -> None:
    await _start(servers, progress)
    # Users arrive over time, as they do (all at once, the webhook backlog alone would
    # delay Meta's statuses past any reconcile hold while the server keeps dying).
    users: list[asyncio.Task[None]] = [
        asyncio.create_task(_say(fake, user, "hi", f"wamid.IN.{user}.1", index * pace.start_every))
        for index, user in enumerate(ages)
    ]
    try:
        asked: set[str] = set()
        cursor, restarting = 0, 0.0
        in_flight: set[tuple[str, int]] = set()
        next_kill = None
        began = time.monotonic()
        while True:
            if progress.kills < report.kills:
                if next_kill is None:
                    progress.phase = f"waiting for /healthz of server start {progress.starts}"
                    up = time.monotonic()
                    if not await _healthy(url, http, pace.up_within):
                        raise Stuck(
                            f"server start {progress.starts} did not answer /healthz "
                            f"within {pace.up_within:g}s"
                        )
                    restarting += time.monotonic() - up
                    next_kill = time.monotonic() + rng.uniform(*pace.uptime)
                    progress.phase = f"letting server start {progress.starts} work"
                elif time.monotonic() >= next_kill:
                    progress.phase = f"killing server start {progress.starts}"
                    await servers.kill()
                    progress.kills += 1
                    report.last_kill_seconds = round(time.monotonic() - began, 1)
                    report.restart_seconds = round(restarting / progress.kills, 2)
                    in_flight |= await _attempts_in_flight(engine)
                    report.in_flight_at_kills = len(in_flight)
                    await _start(servers, progress)
                    next_kill = None
            for record in fake.sent[cursor:]:
                text = text_of(record)
                if text == "How old are you?" and record["to"] not in asked:
                    user = record["to"]
                    asked.add(user)
                    wamid = f"wamid.IN.{user}.2"
                    users.append(asyncio.create_task(_say(fake, user, str(ages[user]), wamid)))
            cursor = len(fake.sent)
            if progress.kills >= report.kills:
                progress.phase = "waiting for the conversations to finish after the last kill"
                if await _finished(engine, fake, ages):
                    await asyncio.gather(*users)
                    report.drive_seconds = round(time.monotonic() - began, 1)
                    return
            await asyncio.sleep(0.05)
    finally:
        for task in users:
            task.cancel()


async def _start(servers: Servers, progress: Progress) -> None:
    progress.starts += 1
    progress.phase = f"forking server start {progress.starts}"
    await servers.start()


async def _finished(engine: Process, fake: FakeGraph, ages: dict[str, int]) -> bool:
    said_bye = {r["to"] for r in fake.sent if text_of(r) == "Bye."}
    return len(said_bye) == len(ages) and not await _unresolved(engine)
