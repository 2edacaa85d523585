"""A server's start-up (api/app.py's lifespan, for `convoflow serve` with or without its
worker): LISTEN, hold the sends a crash left uncertain, then run the worker.

The reconcile hold (CONVOFLOW_SEND_RECONCILE_SECONDS) is the time a lost attempt's
status webhook gets to prove it went out. A webhook reaches only a running server, and
after a crash or a kill storm Meta's backlog drains only once one is up again, so the
hold counts from the start-up: every `uncertain` attempt waits at least the hold from
now (engine/dispatcher.py: hold_uncertain_from_now). Only servers do it: they take the
status webhooks; a `convoflow worker` that starts changes nothing about when a status
can arrive.

What this does not cover: a hold that runs out while no server is up. With
`serve --no-worker` and separate `convoflow worker` processes, a worker left running
while every server is down resends each uncertain attempt once its hold (counted from
the last server start-up, or from its detection) runs out, though no status could have
reached us meanwhile; the next server start-up holds only what is still uncertain then.
docs/security.md ("Sends after a crash") says so.

With the database up, the hold is committed before the server serves. Without it the
server serves at once (its requests answer 503) and the hold is tried again with
backoff until it commits; any other error (a bug, a missing table after a botched
migration) is retried the same way for up to one hold, then logged and given up (the
held sends are then resent on their own time). This process's worker starts only after
that, so it never resends an attempt whose hold ran out while no server was up.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum

import structlog

from convoflow.engine.dispatcher import Dispatcher
from convoflow.engine.worker import Worker
from convoflow.store.faults import DatabaseUnavailable

log = structlog.get_logger(__name__)

# Backoff between attempts at the start-up hold while it fails.
_FIRST_RETRY_SECONDS = 0.1
_MAX_RETRY_SECONDS = 2.0


class _Held(enum.Enum):
    DONE = "done"
    UNAVAILABLE = "unavailable"  # the database is down: retried until it is back
    FAILED = "failed"  # anything else: retried for up to one hold


async def start_server(
    dispatcher: Dispatcher, worker: Worker, stop: asyncio.Event, *, run_worker: bool
) -> asyncio.Task[None]:
    """Returns once the server may serve; the task runs the rest (the hold, if its first
    attempt failed, then the worker if `run_worker`) until `stop` is set."""
    # Before the worker (which would do the same): API-only processes must hear of
    # revoked keys too.
    await dispatcher.runtime.notifier.listen()
    first = await _hold(dispatcher)

    async def rest() -> None:
        if first is not _Held.DONE:
            await _hold_again(dispatcher, stop, first)
        if run_worker and not stop.is_set():
            await worker.run(stop)

    return asyncio.create_task(rest(), name="start-up")


async def _hold(dispatcher: Dispatcher) -> _Held:
    """One attempt."""
    try:
        count = await dispatcher.hold_uncertain_from_now()
    except DatabaseUnavailable:
        return _Held.UNAVAILABLE
    except Exception:
        log.exception("could not hold the uncertain sends at start-up; trying again")
        return _Held.FAILED
    if count:
        log.info(
            "held uncertain sends from start-up",
            count=count,
            seconds=dispatcher.runtime.settings.send_reconcile_seconds,
        )
    return _Held.DONE


async def _hold_again(dispatcher: Dispatcher, stop: asyncio.Event, last: _Held) -> None:
    """Retry with backoff: while the database is unavailable, until it is back; while
    the hold fails otherwise, for up to one hold (monotonic time) from the first such
    failure, then give up."""
    loop = asyncio.get_running_loop()
    give_up_seconds = dispatcher.runtime.settings.send_reconcile_seconds
    failing_since = loop.time() if last is _Held.FAILED else None
    if last is _Held.UNAVAILABLE:
        log.warning("database unavailable at start-up; holding uncertain sends once it is back")
    delay = _FIRST_RETRY_SECONDS
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return
        last = await _hold(dispatcher)
        if last is _Held.DONE:
            return
        if last is _Held.FAILED:
            failing_since = loop.time() if failing_since is None else failing_since
            if loop.time() - failing_since >= give_up_seconds:
                log.error(
                    "gave up holding the uncertain sends at start-up",
                    seconds=give_up_seconds,
                )
                return
        delay = min(_MAX_RETRY_SECONDS, delay * 2)
