"""PostgreSQL restarts and crashes while WhatsApp webhooks arrive.

The test runs its own PostgreSQL cluster (pg_cluster.py), migrates it (what `convoflow
migrate` runs) and starts a real `convoflow serve` subprocess (API and worker) on it; the
fake Graph API runs in this process. Simulated users keep posting signed inbound webhooks,
one new user per message, while the cluster is restarted (`-m fast`: sessions terminated)
and then crashed (`-m immediate`: every process killed, crash recovery) and held down
until webhooks have found no PostgreSQL at all. Each phase ends on what proves it, not
after a fixed time (a loaded machine only takes longer): acknowledgements before the
faults, webhooks sent while the restart runs, refusals while nothing runs, and
acknowledgements again after each restart.

Then, as Meta would, every webhook that was not answered 200 is delivered again, and some
that were are delivered twice more. What must hold:

- every answer is a 200 or a JSON 503 (Meta retries a 503), never a 500;
- no webhook sent and answered while no PostgreSQL ran is answered 200 (nothing can have
  committed: a server acknowledging from memory fails here, even if it stores the
  message once the database is back);
- every webhook answered 200 has its committed message row, even across the crash;
- the same server process serves again by itself after each restart and LISTENs again;
- every message gets exactly one bot reply and one execution: none lost, none sent twice
  (including a resend still held as `uncertain` when the replies are counted).

PostgreSQL only by nature (SQLite has no server to restart). It needs PostgreSQL's
`initdb` and `pg_ctl` (Debian's `/usr/lib/postgresql/<version>/bin`, which `make test`
installs): without them it fails and says so, never skips. (/healthz through the same
faults: test_db_health.py.)
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from convoflow.config import Settings
from convoflow.fakes.graph.server import FakeGraph
from convoflow.fakes.loopback import serve_app
from convoflow.process import build_process
from convoflow.store.migrate import upgrade
from tests.api.conftest import new_project
from tests.durability.pg_cluster import PgCluster, admin
from tests.durability.serve_subprocess import Server
from tests.durability.webhook_users import Users
from tests.whatsapp_e2e.conftest import APP_SECRET, add_number
from tests.whatsapp_e2e.helpers import activate_inbound, echo_start

POSTERS = 3
# The phases wait for what they must see (ACKED answers of 200 before the faults and after
# each restart; REFUSED_WHILE_DOWN webhooks answered while no PostgreSQL runs), for up to
# webhook_users.PHASE_SECONDS.
ACKED = 5
REFUSED_WHILE_DOWN = 5
LISTEN_AGAIN_SECONDS = 30.0  # the notifier's longest backoff (5 s), a connect, and load
# A row claimed for sending when the database went away and never attempted waits out its
# outbox lease (30 s below) before it is sent: the replies may take that long, plus margin.
RECOVERY_SECONDS = 75.0

pytestmark = pytest.mark.pg_cluster


@dataclass(frozen=True)
class Faults:
    """When (monotonic) PostgreSQL was away."""

    restart: tuple[float, float]  # pg_ctl restart -m fast, from its call to its return
    down: tuple[float, float]  # from pg_ctl stop -m immediate's return to pg_ctl start


async def _faults(pg: PgCluster, users: Users) -> Faults:
    """While the users post: a clean restart, then a crash held down until webhooks have
    found no database at all. Each phase waits for what proves it."""
    await users.until("before the faults", 0.0, ACKED, 200)
    began = time.monotonic()
    await asyncio.to_thread(pg.restart, "fast")
    restart = (began, time.monotonic())
    await users.until("after the fast restart", restart[1], ACKED, 200)
    await asyncio.to_thread(pg.stop, "immediate")
    stopped = time.monotonic()
    await users.until("while PostgreSQL is down", stopped, REFUSED_WHILE_DOWN, None)
    down = (stopped, time.monotonic())
    await asyncio.to_thread(pg.start_again)
    await users.until("after the crash", time.monotonic(), ACKED, 200)
    return Faults(restart, down)


def _check_outages(users: Users, faults: Faults) -> None:
    began, ended = faults.restart
    during = [d for d in users.deliveries if began <= d.started <= ended]
    assert during, "no webhook was sent while PostgreSQL restarted"
    stopped, started = faults.down
    inside = [d for d in users.deliveries if d.started >= stopped and d.finished <= started]
    assert len(inside) >= REFUSED_WHILE_DOWN, inside
    # Nothing can commit while no PostgreSQL runs: a 200 then acknowledged a webhook
    # without its committed row, whatever the database holds later.
    acked = [d for d in inside if d.status != 503]
    assert not acked, f"answered while PostgreSQL was down: {acked[:5]}"


async def _stored_wamids(pg: PgCluster) -> set[str]:
    conn = await asyncpg.connect(pg.url("convoflow"))
    try:
        rows = await conn.fetch(
            "SELECT provider_message_id FROM messages WHERE direction = 'inbound'"
        )
        return {row[0] for row in rows}
    finally:
        await conn.close()


async def _count(pg: PgCluster, query: str) -> int:
    conn = await asyncpg.connect(pg.url("convoflow"))
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


async def _unsent(pg: PgCluster) -> int:
    # `uncertain` too: a send held for its status webhook is resent after the hold, and
    # a duplicate it makes must be counted, not missed by ending the wait first.
    return await _count(
        pg, "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending', 'uncertain')"
    )


def _replies(fake: FakeGraph) -> Counter[str]:
    """Accepted bot replies per wamid (the echo flow answers `got: <the user's text>`)."""
    replies: Counter[str] = Counter()
    for record in fake.records(kind="message", type="text"):
        if record["http_status"] == 200:
            replies[str(record["body"]["text"]["body"]).removeprefix("got: ")] += 1
    return replies


async def _set_up(pg: PgCluster, graph_url: str) -> str:
    """A project with the number; returns its API key."""
    settings = Settings(graph_base_url=f"{graph_url}/v23.0", allow_private_network=True)
    engine = build_process(pg.url("convoflow"), settings=settings)
    try:
        project_id, key = await new_project(engine, "faults", allow_private_network=True)
        await add_number(engine, project_id)
        return key
    finally:
        await engine.close()


async def _redeliver(users: Users, acked: set[str]) -> None:
    """Meta retries what was not acknowledged until it is; a few acknowledged ones arrive
    again too (a redelivery must be a no-op)."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    slots = asyncio.Semaphore(POSTERS)

    async def until_acknowledged(wamid: str) -> None:
        async with slots:
            while await users.deliver(wamid) != 200:
                assert time.monotonic() < deadline, f"{wamid} refused: {users.answers[wamid]}"
                await asyncio.sleep(0.2)

    async def again(wamid: str) -> None:
        async with slots:
            assert await users.deliver(wamid) == 200
            assert users.answers[wamid][-1][1]["data"]["duplicates"] == 1

    await asyncio.gather(*(until_acknowledged(w) for w in sorted(set(users.answers) - acked)))
    await asyncio.gather(*(again(w) for w in sorted(acked)[::10]))


async def _wait_for_replies(pg: PgCluster, fake: FakeGraph, wamids: set[str]) -> None:
    deadline = time.monotonic() + RECOVERY_SECONDS
    while time.monotonic() < deadline:
        if set(_replies(fake)) >= wamids and await _unsent(pg) == 0:
            return
        await asyncio.sleep(0.2)
    missing = sorted(wamids - set(_replies(fake)))
    raise AssertionError(f"{len(missing)} messages got no reply, e.g. {missing[:5]}")


async def _check_processed_once(pg: PgCluster, fake: FakeGraph, wamids: set[str]) -> None:
    replies = _replies(fake)
    twice = {wamid: n for wamid, n in replies.items() if n != 1}
    assert not twice, f"replies sent more than once: {twice}"
    # Each message (a new user each) started one execution and queued one reply, sent.
    assert await _count(pg, "SELECT count(*) FROM executions") == len(wamids)
    sent = await _count(pg, "SELECT count(*) FROM outbox WHERE status = 'sent'")
    assert (sent, await _count(pg, "SELECT count(*) FROM outbox")) == (len(wamids),) * 2


async def _listening_again(pg: PgCluster) -> None:
    """The server's one LISTEN connection is back. Waited for: the notifier reopens it
    with backoff (up to 5 s between tries, engine/notifier.py), and the rest of the test
    can be over within a second of the restart (a check at once failed so, 1 run in 5)."""
    deadline = time.monotonic() + LISTEN_AGAIN_SECONDS
    while True:
        listening = await admin(
            pg, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'convoflow-listen'"
        )
        if len(listening) == 1:
            return
        assert time.monotonic() < deadline, (
            f"the server did not LISTEN again after the restarts ({len(listening)} "
            f"connections after {LISTEN_AGAIN_SECONDS} s)"
        )
        await asyncio.sleep(0.2)


def _check_answers(users: Users) -> None:
    answers = [answer for each in users.answers.values() for answer in each]
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {200, 503}, statuses
    for status, body in answers:
        if status == 503:
            assert isinstance(body, dict) and "retry" in body["error"], body
    # The outages were seen (else this test proved nothing).
    assert statuses[503] > 0 and statuses[200] > 0, statuses


async def test_postgres_restart_and_crash_lose_and_repeat_nothing(
    cluster: PgCluster, tmp_path: Path
) -> None:
    fake = FakeGraph(app_secret=APP_SECRET, statuses=[])
    async with serve_app(fake.app) as graph_url:
        server = Server(cluster.url("convoflow"), graph_url, tmp_path / "serve.log")
        await asyncio.to_thread(upgrade, cluster.url("convoflow"))  # `convoflow migrate`
        key = await _set_up(cluster, graph_url)
        await server.start()
        try:
            async with httpx.AsyncClient(
                base_url=server.url, headers={"X-API-Key": key}, timeout=20
            ) as http:
                await activate_inbound(
                    http, echo_start(), message_debounce_seconds=0,
                    inbound_message_read_mode="disabled",
                )  # fmt: skip
                users = Users(http)
                stop = asyncio.Event()
                posters = [asyncio.create_task(users.post_until(stop)) for _ in range(POSTERS)]
                try:
                    faults = await _faults(cluster, users)
                finally:
                    stop.set()
                    await asyncio.gather(*posters)

                _check_outages(users, faults)
                _check_answers(users)
                acked = users.acknowledged()
                missing = acked - await _stored_wamids(cluster)
                assert not missing, f"acknowledged without a committed row: {sorted(missing)}"

                await _redeliver(users, acked)
                await _wait_for_replies(cluster, fake, set(users.answers))
            assert server.proc is not None and server.proc.poll() is None, "server died"
            await _check_processed_once(cluster, fake, set(users.answers))
            await _listening_again(cluster)
        finally:
            server.stop()
