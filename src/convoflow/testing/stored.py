"""Suites stored with their workflow on a server (docs/testing-flows.md, "In the
console"): checked when saved (problems with their line), run inside the server by the
in-process driver, on a database of their own.

A run builds the real engine on a throwaway SQLite database with a FakeClock and the
sandbox channel, exactly like `convoflow test` without `--url`, and loads the workflow's
current definition into it: nothing it does appears in the project's executions,
conversations or metrics, no WhatsApp message is sent (the sandbox channel), `advance_time`
moves the fake clock instead of sleeping, and the draft being edited can be tested before
it is activated. What is NOT isolated: the flow's outbound calls (webhook nodes, AI
models) go out for real, through the server's egress policy, as they do in the console's
chat. It runs in a thread with an event loop of its own, so the server's loop only waits
for the answer; a few runs at a time per process (more are refused with 503 rather than
queued behind each other), and one at a time per project (a second is a 409), so one
project cannot keep the others' runs out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from convoflow.config import Settings
from convoflow.services.common import Actor, Conflict, FieldProblem, Unavailable, invalid
from convoflow.services.process import Process
from convoflow.services.workflows import test_suites
from convoflow.testing.local import LocalDriver, migrated_template
from convoflow.testing.model import Suite
from convoflow.testing.parsing import SuiteError, parse_suite
from convoflow.testing.runner import ERROR, CaseResult, run_suites

log = logging.getLogger(__name__)

MAX_CASES = 100
RUN_TIMEOUT_SECONDS = 120.0
CONCURRENT_RUNS = 2
# How long closing waits for the runs it cancelled before removing their template.
CLOSE_GRACE_SECONDS = 5.0
SHUTTING_DOWN = "the run was stopped: the server is shutting down"
_PATH = Path("test_suite.yaml")


def check(text: str) -> Suite:
    """The suite, or Invalid listing every problem (`details[].line`: where it is)."""
    try:
        suite = parse_suite(text, _PATH, stored=True)
    except SuiteError as exc:
        raise invalid(
            [
                FieldProblem("test_suite.yaml", problem, "invalid_suite", {"line": line})
                for problem, line in zip(exc.problems, exc.lines, strict=True)
            ],
            summary="the test suite has problems: "
            + "; ".join(
                f"line {line}: {p}" if line else p
                for p, line in zip(exc.problems[:3], exc.lines, strict=False)
            ),
        ) from None
    if len(suite.cases) > MAX_CASES:
        raise invalid(
            [
                FieldProblem(
                    "test_suite.yaml",
                    f"{len(suite.cases)} cases: a stored suite has at most {MAX_CASES}",
                    "too_many_cases",
                    {"line": None},
                )
            ]
        )
    return suite


async def save(engine: Process, actor: Actor, workflow_id: str, text: str) -> Any:
    await test_suites.workflow_of(engine, actor, workflow_id)  # 404 before 422
    if text.strip():  # an empty text clears the suite
        check(text)
    return await test_suites.put(engine, actor, workflow_id, text)


class SuiteRuns:
    """Runs stored suites for the API (`POST /workflows/{id}/test_runs`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        concurrent: int = CONCURRENT_RUNS,
        timeout_seconds: float = RUN_TIMEOUT_SECONDS,
    ) -> None:
        # The server's settings (its SSRF policy, its limits), but the run checks and
        # compiles its one definition itself: no worker processes per run.
        self.settings = settings.model_copy(update={"definition_workers": 0})
        self.timeout_seconds = timeout_seconds
        self._free = concurrent  # touched on the server's event loop only
        self._projects: set[str] = set()  # projects with a run going (same loop only)
        self._closed = False
        # The runs going: their futures (server's loop) and, once started, each thread's
        # loop and task, so close() can cancel them.
        self._futures: set[asyncio.Future[list[CaseResult]]] = set()
        self._tasks: set[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = set()
        self._pool = ThreadPoolExecutor(max_workers=concurrent, thread_name_prefix="suite-run")
        # One empty migrated database, made by the first run, copied by each run.
        self._folder = tempfile.TemporaryDirectory(prefix="convoflow-suite-runs-")
        self._template: Path | None = None
        self._template_lock = threading.Lock()

    async def run(
        self, engine: Process, actor: Actor, workflow_id: str
    ) -> tuple[test_suites.StoredSuite, list[CaseResult]]:
        stored = await test_suites.get(engine, actor, workflow_id, with_definition=True)
        if not stored.yaml.strip():
            # The request is fine; the workflow's state is not (409, like a resume of an
            # execution that does not wait).
            raise Conflict(
                f"workflow {workflow_id} has no test suite yet: PUT "
                f"/workflows/{workflow_id}/test_suite first"
            )
        check(stored.yaml)  # saved before a rule changed: the same errors as on save
        suite = parse_suite(
            stored.yaml,
            _PATH,
            stored=True,
            definition=stored.definition or {"nodes": [], "edges": []},
            name=str(stored.workflow["name"]),
        )
        project = actor.project_id
        if project in self._projects:
            raise Conflict(
                "this project already has a test run going; try again when it has finished "
                "(one run at a time per project)"
            )
        self._projects.add(project)
        try:
            return stored, await self.execute(suite)
        finally:
            self._projects.discard(project)

    async def execute(self, suite: Suite) -> list[CaseResult]:
        """Run a parsed suite in a thread of the pool (Unavailable when all are busy)."""
        if self._closed:
            raise Unavailable("this server is shutting down; try the test run again later")
        if self._free <= 0:
            raise Unavailable(
                "this server is already running as many test runs as it allows at once; "
                "try again when one has finished"
            )
        self._free -= 1
        try:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._pool, self._run_in_thread, suite)
            self._futures.add(future)
            try:
                return await future
            finally:
                self._futures.discard(future)
        finally:
            self._free += 1

    def _run_in_thread(self, suite: Suite) -> list[CaseResult]:
        return asyncio.run(self._cancellable(suite))

    async def _cancellable(self, suite: Suite) -> list[CaseResult]:
        """run_here, known to close() while it runs (which cancels it)."""
        task = asyncio.current_task()
        assert task is not None
        entry = (asyncio.get_running_loop(), task)
        with self._template_lock:
            if self._closed:  # closed between the submit and this thread starting
                return _stopped(suite, [], SHUTTING_DOWN)
            self._tasks.add(entry)
        try:
            return await self.run_here(suite)
        except asyncio.CancelledError:
            return _stopped(suite, [], SHUTTING_DOWN)
        finally:
            with self._template_lock:
                self._tasks.discard(entry)

    async def run_here(self, suite: Suite) -> list[CaseResult]:
        """The run itself, on the calling event loop (the thread's own; bench/suite_runs.py
        also runs it on its own loop, to compare)."""
        driver = LocalDriver(self.settings, template=await self._template_file())
        results: list[CaseResult] = []
        try:
            await asyncio.wait_for(
                run_suites(driver, [suite], results.append), self.timeout_seconds
            )
        except TimeoutError:
            return _stopped(
                suite, results, f"the run was stopped after {self.timeout_seconds:.0f} s"
            )
        finally:
            await driver.close()
        return results

    async def _template_file(self) -> Path:
        def make() -> Path:
            with self._template_lock:  # two first runs in two threads: one migrates
                template = self._template or migrated_template(Path(self._folder.name))
                self._template = template
                return template

        known = self._template
        return known if known is not None else await asyncio.to_thread(make)

    async def close(self, grace_seconds: float = CLOSE_GRACE_SECONDS) -> None:
        """Refuse new runs, cancel the ones going (each stops at its next await, closes
        its engine and removes its own database), wait up to `grace_seconds` for them,
        then remove the template they copy. A run still going after that keeps the
        folder (removed when the process exits) rather than losing its template
        mid-copy."""
        with self._template_lock:
            self._closed = True
            going = list(self._tasks)
        for loop, task in going:
            # A loop that finished meanwhile is closed: nothing left to cancel there.
            if not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # closed since the check
                    loop.call_soon_threadsafe(task.cancel)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._futures:
            _, pending = await asyncio.wait(set(self._futures), timeout=grace_seconds)
            if pending:
                log.warning(
                    "%d test run(s) still going %.0f s after shutdown began; their "
                    "template folder %s is left for the process exit",
                    len(pending),
                    grace_seconds,
                    self._folder.name,
                )
                return
        self._folder.cleanup()


def _stopped(suite: Suite, results: list[CaseResult], line: str) -> list[CaseResult]:
    """`results` and, for each case not among them, an `error` saying why the run stopped."""
    done = {r.case for r in results}
    return [
        *results,
        *(
            CaseResult(suite.name, case.name, ERROR, lines=[line])
            for case in suite.cases
            if case.name not in done
        ),
    ]
