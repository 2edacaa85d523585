"""The worker: claims due jobs (timers, actions, routing, ...) and runs the outbox
dispatcher. Any number of worker processes can run against PostgreSQL (jobs are claimed
with FOR UPDATE SKIP LOCKED and leases); on SQLite one process does it all."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.engine.committer import AfterCommit
from convoflow.engine.dispatcher import Dispatcher
from convoflow.engine.jobs import DEFAULT_HANDLERS
from convoflow.store import jobs as job_store
from convoflow.store.faults import DatabaseUnavailable

if TYPE_CHECKING:
    from convoflow.engine.runtime import Runtime

log = structlog.get_logger(__name__)


class Worker:
    def __init__(
        self,
        runtime: Runtime,
        dispatcher: Dispatcher | None = None,
        *,
        worker_id: str | None = None,
        batch_size: int = 200,
        concurrency: int = 128,
    ) -> None:
        self.runtime = runtime
        self.dispatcher = dispatcher
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.batch_size = batch_size
        self._limit = asyncio.Semaphore(concurrency)
        self.jobs_done = 0

    async def run_jobs_once(self) -> int:
        runtime = self.runtime
        now = runtime.clock.now()

        async def claim(conn: AsyncConnection, _hooks: list[AfterCommit]) -> list[RowMapping]:
            return await job_store.claim_due_jobs(
                conn,
                worker_id=self.worker_id,
                now=now,
                lease_seconds=runtime.settings.job_lease_seconds,
                limit=self.batch_size,
            )

        jobs = await runtime.committer.run(claim)
        if jobs:
            await asyncio.gather(*(self._handle(job) for job in jobs))
        return len(jobs)

    async def run_jobs_now(self, job_ids: list[int]) -> list[RowMapping]:
        """Run these jobs now, before their time, exactly as when they come due (their
        handler, a retry on failure): a sandbox conversation's "skip the wait". Returns
        the jobs run; one another worker holds already runs there."""
        runtime = self.runtime

        async def claim(conn: AsyncConnection, _hooks: list[AfterCommit]) -> list[RowMapping]:
            return await job_store.claim_jobs(
                conn,
                job_ids,
                worker_id=self.worker_id,
                now=runtime.clock.now(),
                lease_seconds=runtime.settings.job_lease_seconds,
            )

        jobs = await runtime.committer.run(claim)
        await asyncio.gather(*(self._handle(job) for job in jobs))
        return jobs

    async def _handle(self, job: RowMapping) -> None:
        handler = self.runtime.job_handlers.get(job["kind"]) or DEFAULT_HANDLERS.get(job["kind"])
        async with self._limit:
            try:
                if handler is None:
                    raise LookupError(f"no handler for job kind {job['kind']!r}")
                await handler(self.runtime, job)
                self.jobs_done += 1
            except DatabaseUnavailable as exc:
                # An outage, not a bug in the job: no traceback. Nothing of it committed.
                log.warning("job interrupted by the database; will retry", job_id=job["id"])
                await self._retry_later(job, str(exc))
            except Exception as exc:
                log.exception("job failed; will retry", job_id=job["id"], kind=job["kind"])
                await self._retry_later(job, f"{type(exc).__name__}: {exc}")

    async def _retry_later(self, job: RowMapping, error: str) -> None:
        delay = min(3600, 2 ** min(int(job["attempts"]), 12))

        async def release(conn: AsyncConnection, _hooks: list[AfterCommit]) -> None:
            await job_store.release_job(
                conn,
                job["id"],
                run_at=self.runtime.clock.now() + timedelta(seconds=delay),
                error=error[:2000],
            )

        try:
            # Released as soon as the database is back, else the job would wait for its
            # lease to run out.
            lease = self.runtime.settings.job_lease_seconds
            await self.runtime.committer.run_until_committed(release, within=lease)
        except DatabaseUnavailable:
            log.warning("database still unavailable; the job's lease will expire", job_id=job["id"])
        except Exception:
            log.exception("could not reschedule job; its lease will expire", job_id=job["id"])

    async def run_once(self) -> int:
        done = await self.run_jobs_once()
        if self.dispatcher is not None:
            done += await self.dispatcher.run_once()
        return done

    async def drain(self, max_rounds: int = 10_000) -> int:
        """Run until nothing is due now (tests, the chat command)."""
        total = 0
        for _ in range(max_rounds):
            done = await self.run_once()
            total += done
            if done == 0:
                return total
        raise RuntimeError("worker did not drain: something keeps scheduling due work")

    async def run(self, stop: asyncio.Event) -> None:
        await self.runtime.notifier.listen()
        tasks = [asyncio.create_task(self._job_loop(stop), name="jobs")]
        if self.dispatcher is not None:
            tasks.append(asyncio.create_task(self._dispatch_loop(stop), name="outbox"))
        try:
            await stop.wait()
        finally:
            self.runtime.notifier.wake_all()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _job_loop(self, stop: asyncio.Event) -> None:
        await self._keep_running(
            "jobs", stop, self.runtime.notifier.jobs, self.run_jobs_once, self._seconds_to_next_job
        )

    async def _dispatch_loop(self, stop: asyncio.Event) -> None:
        assert self.dispatcher is not None

        async def poll() -> float:
            return self.runtime.settings.worker_poll_seconds

        await self._keep_running(
            "outbox", stop, self.runtime.notifier.outbox, self.dispatcher.run_once, poll
        )

    async def _keep_running(
        self,
        name: str,
        stop: asyncio.Event,
        event: asyncio.Event,
        once: Callable[[], Awaitable[int]],
        idle: Callable[[], Awaitable[float]],
    ) -> None:
        """Run `once` until stopped; when nothing was done, sleep `idle()` seconds or until
        woken. While the database is unavailable, wait with backoff (0.1 s doubling to 2 s)
        and log once when it goes and once when it comes back, not every attempt."""
        outage = 0.0
        while not stop.is_set():
            try:
                event.clear()
                done = await once()
            except DatabaseUnavailable as exc:
                if not outage:
                    log.warning("database unavailable; waiting for it", loop=name, error=str(exc))
                outage = min(2.0, outage * 2 or 0.1)
                await self._sleep(asyncio.Event(), stop, outage)
                continue
            except Exception:
                log.exception("worker loop error", loop=name)
                done = 0
            if outage:
                log.info("database reachable again", loop=name)
                outage = 0.0
            if done == 0:
                await self._sleep(event, stop, await idle())

    async def _seconds_to_next_job(self) -> float:
        poll = self.runtime.settings.worker_poll_seconds
        try:
            async with self.runtime.db.read() as conn:
                due = await job_store.next_due_at(conn)
        except Exception:
            return poll
        if due is None:
            return poll
        delta = (due - self.runtime.clock.now()).total_seconds()
        return max(0.0, min(poll, delta))

    async def _sleep(self, event: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
        if seconds <= 0 or stop.is_set():
            return
        waiter = asyncio.ensure_future(event.wait())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait(
                {waiter, stopper}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
            stopper.cancel()
