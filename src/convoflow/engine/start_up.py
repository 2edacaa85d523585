"""A server's start-up (api/app.py's lifespan, for `convoflow serve` with or without its
worker): LISTEN, hold the sends a crash left uncertain, then run the worker.

The reconcile hold (CONVOFLOW_SEND_RECONCILE_SECONDS) is the time a lost attempt's
status webhook gets to prove it went out. A webhook reaches only a running server, and
after a crash or a kill storm Meta's backlog drains only once one is up again, so the
hold counts from the start-up: every `uncertain` attempt waits at least the hold from
now (engine/dispatcher.py: hold_uncertain_from_now). Only servers do it: they take the
status webhooks; a `convoflow worker` that starts changes nothing about when a status
can arrive.

With the database up, the hold is committed before the server serves. Without it the
server serves at once (its requests answer 503) and the hold is tried again with
backoff until it commits; this process's worker starts only after it, so it never
resends an attempt whose hold ran out while no server was up.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from convoflow.engine.dispatcher import Dispatcher
from convoflow.engine.worker import Worker
from convoflow.store.faults import DatabaseUnavailable

log = structlog.get_logger(__name__)

# Backoff between attempts at the start-up hold while the database is unavailable.
_FIRST_RETRY_SECONDS = 0.1
_MAX_RETRY_SECONDS = 2.0


async def start_server(
    dispatcher: Dispatcher, worker: Worker, stop: asyncio.Event, *, run_worker: bool
) -> asyncio.Task[None]:
    """Returns once the server may serve; the task runs the rest (the hold, if the
    database was unavailable, then the worker if `run_worker`) until `stop` is set."""
    # Before the worker (which would do the same): API-only processes must hear of
    # revoked keys too.
    await dispatcher.runtime.notifier.listen()
    held = await _hold(dispatcher)

    async def rest() -> None:
        if not held:
            await _hold_when_the_database_is_back(dispatcher, stop)
        if run_worker and not stop.is_set():
            await worker.run(stop)

    return asyncio.create_task(rest(), name="start-up")


async def _hold(dispatcher: Dispatcher) -> bool:
    """One attempt; False only when the database is unavailable (anything else is
    logged: the server still starts, its held sends are then resent on their own
    time)."""
    try:
        count = await dispatcher.hold_uncertain_from_now()
    except DatabaseUnavailable:
        return False
    except Exception:
        log.exception("could not hold the uncertain sends at start-up")
        return True
    if count:
        log.info(
            "held uncertain sends from start-up",
            count=count,
            seconds=dispatcher.runtime.settings.send_reconcile_seconds,
        )
    return True


async def _hold_when_the_database_is_back(dispatcher: Dispatcher, stop: asyncio.Event) -> None:
    log.warning("database unavailable at start-up; holding uncertain sends once it is back")
    delay = _FIRST_RETRY_SECONDS
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set() or await _hold(dispatcher):
            return
        delay = min(_MAX_RETRY_SECONDS, delay * 2)
