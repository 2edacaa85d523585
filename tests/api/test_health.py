"""`GET /healthz` answers from the process's database probe (services/health/probe.py):
a fresh success without a round trip, anything else by pinging inline.

The probe's rules are tested with a ping of the test's own (counting, failing, hanging)
and a monotonic clock it moves; the route on both databases through the real app. A
stopped PostgreSQL showing as 503 and its return as 200 is
tests/durability/test_db_faults.py::test_healthz_shows_a_stopped_database_and_its_return.
"""

from __future__ import annotations

import asyncio

import httpx

from convoflow.services.health.probe import FRESH_SECONDS, DatabaseProbe


class Ping:
    """A database ping the test controls."""

    def __init__(self) -> None:
        self.calls = 0
        self.error: Exception | None = None
        self.held: asyncio.Event | None = None

    async def __call__(self) -> None:
        self.calls += 1
        if self.held is not None:
            await self.held.wait()
        if self.error is not None:
            raise self.error


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_fresh_success_is_answered_without_a_round_trip() -> None:
    ping, clock = Ping(), Monotonic()
    probe = DatabaseProbe(ping, monotonic=clock)
    first = await probe.check()  # nothing known yet: inline
    assert (first.error, first.age_seconds, ping.calls) == (None, 0.0, 1)
    clock.now += FRESH_SECONDS - 0.1
    cached = await probe.check()
    assert (cached.error, ping.calls) == (None, 1)
    assert abs(cached.age_seconds - (FRESH_SECONDS - 0.1)) < 1e-9
    clock.now += 0.2  # stale now: checked again
    again = await probe.check()
    assert (again.error, again.age_seconds, ping.calls) == (None, 0.0, 2)


async def test_a_failure_is_checked_again_at_every_call_so_recovery_shows_at_once() -> None:
    ping = Ping()
    probe = DatabaseProbe(ping, monotonic=Monotonic())
    ping.error = ConnectionRefusedError("connection refused")
    assert (await probe.check()).error == "connection refused"
    assert (await probe.check()).error == "connection refused"
    assert ping.calls == 2  # a failure is never served from the last result
    ping.error = None
    assert (await probe.check()).error is None
    assert ping.calls == 3


async def test_checks_during_a_ping_share_it() -> None:
    """A burst of health checks against a dead or slow database costs one ping at a
    time, not one connection attempt each."""
    ping = Ping()
    ping.held = asyncio.Event()
    probe = DatabaseProbe(ping)
    checks = [asyncio.create_task(probe.check()) for _ in range(20)]
    await asyncio.sleep(0.01)
    ping.held.set()
    assert all(check.error is None for check in await asyncio.gather(*checks))
    assert ping.calls == 1


async def test_a_database_that_does_not_answer_is_unhealthy_after_the_timeout() -> None:
    ping = Ping()
    ping.held = asyncio.Event()  # never set: no answer, no refusal
    probe = DatabaseProbe(ping, timeout=0.05)
    assert (await probe.check()).error == "no answer within 0.05 s"


async def test_the_background_ping_keeps_the_answer_fresh_until_stopped() -> None:
    ping = Ping()
    probe = DatabaseProbe(ping, interval=0.01)
    probe.start()
    probe.start()  # idempotent: still one loop
    for _ in range(200):
        if ping.calls >= 3:
            break
        await asyncio.sleep(0.01)
    assert ping.calls >= 3
    answer = await probe.check()  # fresh: no ping of its own
    assert answer.error is None and answer.age_seconds < FRESH_SECONDS
    await probe.stop()
    stopped_at = ping.calls
    await asyncio.sleep(0.05)
    assert ping.calls == stopped_at


async def test_healthz_names_the_database_and_how_old_its_check_is(
    live_server: str, backend: str
) -> None:
    """Over the real app with its lifespan (which starts the probe), on both databases."""
    async with httpx.AsyncClient(base_url=live_server) as http:
        for _ in range(3):
            answer = await http.get("/healthz")
            assert answer.status_code == 200
            body = answer.json()
            assert body["status"] == "ok" and body["database"] == backend
            assert 0 <= body["checked_seconds_ago"] <= FRESH_SECONDS
            await asyncio.sleep(0.3)
