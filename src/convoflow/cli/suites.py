"""`convoflow test SUITE.test.yaml|DIR ...`: conversation test suites (docs/testing-flows.md).
Exit 0 when every case passes, 1 when one fails, 2 when a suite file is bad."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from convoflow.cli.app import app
from convoflow.testing.driver import Driver
from convoflow.testing.model import Suite, SuiteError, find_suites, load_suite
from convoflow.testing.reporters import (
    print_failure,
    print_result_line,
    print_suite_errors,
    print_summary,
    write_junit,
)
from convoflow.testing.runner import CaseResult, run_suites


def _load(paths: list[Path]) -> tuple[list[Suite], list[SuiteError]]:
    suites, errors = [], []
    for path in find_suites(paths):
        try:
            suites.append(load_suite(path))
        except SuiteError as exc:
            errors.append(exc)
    return suites, errors


def _driver(url: str | None, api_key: str | None) -> Driver:
    if url is None:
        from convoflow.testing.local import LocalDriver

        return LocalDriver()
    from convoflow.testing.remote import RemoteDriver

    if not api_key:
        raise typer.BadParameter("--url needs --api-key (or CONVOFLOW_API_KEY)")
    return RemoteDriver(url, api_key)


async def _run(driver: Driver, suites: list[Suite], console: Console) -> list[CaseResult]:
    total = sum(len(s.cases) for s in suites)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("cases", total=total)

        def on_result(result: CaseResult) -> None:
            print_result_line(progress.console, result)
            progress.advance(task)

        try:
            return await run_suites(driver, suites, on_result)
        finally:
            await driver.close()


def _quiet_engine_logs() -> None:
    # The engine's info lines (migrations, every message received) would bury the report;
    # an explicit CONVOFLOW_LOG_LEVEL=DEBUG still shows everything.
    from convoflow.config import get_settings
    from convoflow.observability.logs import configure_logging

    settings = get_settings()
    level = "DEBUG" if settings.log_level.upper() == "DEBUG" else "WARNING"
    configure_logging(level=level, json_lines=settings.log_json)


@app.command("test")
def run_test_suites(
    paths: list[Path] = typer.Argument(
        ..., help="suite files (*.test.yaml) or directories to search for them"
    ),
    url: str | None = typer.Option(
        None, "--url", help="run against this server's API (default: in-process, throwaway SQLite)"
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="CONVOFLOW_API_KEY", help="the project key, with --url"
    ),
    junit: Path | None = typer.Option(None, "--junit", help="also write JUnit XML here"),
) -> None:
    """Run conversation test suites: scripted users against a flow, checking what the bot
    says, the variables and the status. Exit 1 on a failure, 2 on a bad suite file."""
    _quiet_engine_logs()
    console = Console(highlight=False)
    found = find_suites(paths)
    if not found:
        console.print(f"no suite files (*.test.yaml) in {', '.join(map(str, paths))}")
        raise typer.Exit(2)
    suites, errors = _load(paths)
    if errors:
        print_suite_errors(console, errors)
        raise typer.Exit(2)
    driver = _driver(url, api_key)
    console.print(f"running {sum(len(s.cases) for s in suites)} cases ({driver.name})")
    results = asyncio.run(_run(driver, suites, console))
    for result in results:
        if not result.ok or result.outcome == "skipped":
            print_failure(console, result)
    print_summary(console, results)
    if junit is not None:
        write_junit(junit, results)
        console.print(f"JUnit XML written to {junit}")
    if not all(r.ok for r in results):
        raise typer.Exit(1)
