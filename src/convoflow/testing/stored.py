"""Suites stored with their workflow on a server (docs/testing-flows.md, "In the
console"): checked when saved (problems with their line), run inside the server by the
in-process driver, isolated from the project.

A run builds the real engine on a throwaway SQLite database with a FakeClock and the
sandbox channel, exactly like `convoflow test` without `--url`, and loads the workflow's
current definition into it: nothing it does appears in the project's executions,
conversations or metrics, `advance_time` moves the fake clock instead of sleeping, and
the draft being edited can be tested before it is activated. It runs in a thread with
an event loop of its own, so the server's loop only waits for the answer; a few runs at
a time per process (more are refused with 503 rather than queued behind each other)."""

from __future__ import annotations

import asyncio
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

MAX_CASES = 100
RUN_TIMEOUT_SECONDS = 120.0
CONCURRENT_RUNS = 2
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
        return stored, await self.execute(suite)

    async def execute(self, suite: Suite) -> list[CaseResult]:
        """Run a parsed suite in a thread of the pool (Unavailable when all are busy)."""
        if self._free <= 0:
            raise Unavailable(
                "this server is already running as many test runs as it allows at once; "
                "try again when one has finished"
            )
        self._free -= 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self._run_in_thread, suite)
        finally:
            self._free += 1

    def _run_in_thread(self, suite: Suite) -> list[CaseResult]:
        return asyncio.run(self.run_here(suite))

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
            done = {r.case for r in results}
            stopped = f"the run was stopped after {self.timeout_seconds:.0f} s"
            results.extend(
                CaseResult(suite.name, case.name, ERROR, lines=[stopped])
                for case in suite.cases
                if case.name not in done
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

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._folder.cleanup()
