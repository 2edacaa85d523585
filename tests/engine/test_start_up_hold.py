"""The start-up hold of the sends a crash left uncertain (engine/start_up.py) survives an
error that is not the database being down: a real fault, the `outbox` table renamed
under the starting server (as a botched manual migration would) and put back a moment
later. The hold is retried until it commits, and the worker claims nothing before it:
the hold was skipped, and the worker resent an attempt whose hold had run out while no
server was up. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa
from structlog.testing import capture_logs

from convoflow.api.app import create_app
from convoflow.clock import FakeClock
from convoflow.config import Settings
from convoflow.process import Process, build_process
from tests.api.conftest import serve
from tests.engine.lost_sends import insert_lost_send, lost_send, wait_until_held
from tests.support import make_project


async def _rename(engine: Process, old: str, new: str) -> None:
    async with engine.db.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {old} RENAME TO {new}"))


async def test_an_unexpected_error_at_start_up_is_retried_before_the_worker_runs(
    engine: Process, clock: FakeClock
) -> None:
    project_id = await make_project(engine, "held")
    now = clock.now()
    await insert_lost_send(engine, project_id, now)
    await _rename(engine, "outbox", "outbox_moved")
    settings = Settings(worker_poll_seconds=0.05, graph_base_url="http://127.0.0.1:9/v23.0")
    server = build_process(engine.db.url, clock=clock, settings=settings, pool_size=2)
    try:
        async with serve(create_app(server, run_worker=True)):
            await asyncio.sleep(0.5)  # the first attempts fail: no such table
            await _rename(engine, "outbox_moved", "outbox")
            held_until = now + timedelta(seconds=settings.send_reconcile_seconds)
            await wait_until_held(engine, held_until, 15)
            await asyncio.sleep(0.3)  # the worker runs now: it must leave the row alone
            row = await lost_send(engine)
            assert (row["status"], row["attempts"]) == ("uncertain", 1), dict(row)
            assert row["next_attempt_at"] == held_until, dict(row)
    finally:
        await server.close()


async def test_the_start_up_gives_up_after_one_hold_of_unexpected_errors(
    engine: Process, clock: FakeClock
) -> None:
    """An error that does not go away is retried for one hold (1 s here), then logged
    once and given up: the server's worker then runs (its held sends are resent on their
    own time) instead of the process waiting for ever."""
    await _rename(engine, "outbox", "outbox_moved")
    settings = Settings(
        worker_poll_seconds=0.05,
        graph_base_url="http://127.0.0.1:9/v23.0",
        send_reconcile_seconds=1,
    )
    server = build_process(engine.db.url, clock=clock, settings=settings, pool_size=2)
    try:
        with capture_logs() as logs:
            async with serve(create_app(server, run_worker=True)):
                for _ in range(150):  # up to 15 s
                    if any(e["event"].startswith("gave up holding") for e in logs):
                        break
                    await asyncio.sleep(0.1)
        events = [str(e["event"]) for e in logs]
        assert sum(e.startswith("gave up holding") for e in events) == 1, events
        retries = sum(e.startswith("could not hold the uncertain sends") for e in events)
        assert retries >= 3, events  # backed off 0.1, 0.2, 0.4, 0.8 s within the hold
    finally:
        await server.close()
        await _rename(engine, "outbox_moved", "outbox")
