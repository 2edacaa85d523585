"""SIGKILL the WhatsApp server 20 times while 200 conversations run, on SQLite and
PostgreSQL (harness: tests/durability/whatsapp_chaos.py; the full run is bench/chaos.py).

With Meta's `sent` statuses echoing the outbox key, a send whose answer a kill lost is
settled by its status instead of being sent again: every user gets every bot message
exactly once, in order, and every inbound wamid is taken once. Each kill strikes on
time, whatever is in flight or still on its way (no pacing: why, below)."""

from __future__ import annotations

import pytest

from tests.durability.whatsapp_chaos import Pace, run_chaos

CONVERSATIONS = 200
KILLS = 20
# Where the time goes (Report.last_kill_seconds, drive_seconds): the kills, 20 x (restart
# + uptime), then the outbox lease (3 s) and the hold for the attempts the last kill left
# without a result. The hold (CONVOFLOW_SEND_RECONCILE_SECONDS, here the production
# default) restarts at each server start-up (engine/start_up.py), so it must exceed the
# time a `sent` status takes to reach the server once one is up
# (Report.status_lag_since_start; a duplicate it explains counts in
# late_status_duplicates), not the time the servers were down.
#
# The kills are not paced: each strikes on time, whatever statuses are still on their way
# (the issue asks for a storm of kills during load). Before the hold restarted at
# start-ups, an unpaced storm's status lag (from the fake's first try: 30-131 s on
# PostgreSQL at load 9-12) outran a 30 s hold, and the test had each kill wait until
# the fake had delivered every `sent` status older than 5 s. Since ee09270 the backlog
# built while the servers are down no longer counts: unpaced, 8 of 8 runs gave 0
# duplicates (load 1.5-4.8, 2026-11-30; BENCHMARKS.md), the lag since the last start at
# most 6.6 s on PostgreSQL (from the first try 32 s) and 0.4 s on SQLite, 4.5x under the
# hold. A duplicate here with late_status_duplicates equal to it is a status slower than
# the hold of server uptime (the machine's load; at-least-once allows it); one not so
# explained is a reconciliation bug.
HOLD_SECONDS = 30.0
# pytest's timeout for this test (as pyproject's, stated here so the two stay apart). The
# harness gives up well before it (DEADLINE_SECONDS, from the first server start until
# every user said bye), so a run that hangs fails with what was stuck, not a bare pytest
# timeout: the rest covers the database, the setup, the server's graceful stop (<= 10 s)
# and the counting. At load 1.5-4.8 a run took 29-78 s in all.
TIMEOUT_SECONDS = 300
DEADLINE_SECONDS = 200.0
# The server lives 0.5-1.5 s after its /healthz answers, and users arrive over the whole
# kill phase (200 x 0.125 s), so every kill strikes during load.
PACE = Pace(uptime=(0.5, 1.5), start_every=0.125, deadline=DEADLINE_SECONDS)


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_SECONDS)
async def test_kill_9_loses_nothing_and_sends_nothing_twice(db_url: str) -> None:
    report = await run_chaos(
        db_url,
        conversations=CONVERSATIONS,
        kills=KILLS,
        hold=HOLD_SECONDS,
        pace=PACE,
    )
    print(report)
    assert (report.lost, report.out_of_order) == (0, 0), report
    assert report.double_processed_inbound == 0, report
    assert report.duplicates == 0, report
    assert report.sends == 4 * CONVERSATIONS, report
    assert report.kills == KILLS, report
    # Whether a kill caught a send between its journal and its result depends on the
    # machine's speed: on a quiet one every send can finish between kills (seen in a CI
    # run: in_flight_at_kills=0, everything else right). The reconcile path itself is
    # tested deterministically in tests/whatsapp_e2e/test_send_reconcile.py.
    if report.in_flight_at_kills == 0:
        print("no kill caught a send in flight: the hold was not exercised in this run")


@pytest.mark.slow
async def test_a_run_past_its_deadline_says_where_it_stood(db_url: str) -> None:
    """The deadline passes while the first server is still being forked (the fork
    server's warm-up takes seconds): the harness's event loop is free meanwhile (it also
    serves the fake Graph API), so the failure comes on time and names that phase."""
    with pytest.raises(AssertionError) as failure:
        await run_chaos(db_url, conversations=2, kills=0, pace=Pace(deadline=0.2))
    message = str(failure.value)
    assert message.startswith("conversations did not finish within 0.2s: "), message
    assert "the harness was forking server start 1" in message, message
    assert "kills 0 of 0, server starts 1" in message, message
    assert "users 0 of 2 done (inbound messages taken 0 of 4;" in message, message
    assert "outbox rows by status {} (uncertain 0)" in message, message
    assert "last status lag none taken, oldest not taken none" in message, message


@pytest.mark.slow
async def test_a_server_that_does_not_answer_healthz_stops_the_run(db_url: str) -> None:
    """A start whose /healthz does not answer within `Pace.up_within` ends the run there,
    instead of killing on (every later figure would count a server that was never up)."""
    with pytest.raises(AssertionError) as failure:
        await run_chaos(db_url, conversations=2, kills=1, pace=Pace(up_within=0.01))
    message = str(failure.value)
    assert message.startswith("server start 1 did not answer /healthz within 0.01s: "), message
    assert "the harness was waiting for /healthz of server start 1" in message, message
    assert "kills 0 of 1" in message, message
