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
from convoflow.testing.model import ProviderModelSpec, Suite, parse_provider_model
from convoflow.testing.parsing import SuiteError, find_suites, load_suite
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


def provider_model_option(values: list[str] | None) -> list[ProviderModelSpec]:
    """`--provider-model name=...,base_url=...[,model=...,provider=...,api_key=...]`."""
    try:
        return [parse_provider_model(value) for value in values or []]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--provider-model") from None


PROVIDER_MODEL_HELP = (
    "a provider model for the flow's AI nodes, made in the throwaway project: "
    "name=N,base_url=URL[,model=M,provider=openai|anthropic,api_key=K]; repeatable "
    "(e.g. convoflow fake-llm's name=fake,base_url=http://127.0.0.1:8099/v1)"
)


def _driver(url: str | None, api_key: str | None, models: list[ProviderModelSpec]) -> Driver:
    if url is None:
        from convoflow.testing.local import LocalDriver

        # A model given here or in a suite is usually a local server (the fake LLM).
        return LocalDriver(provider_models=models, allow_private_network=True)
    from convoflow.testing.remote import RemoteDriver

    if models:
        raise typer.BadParameter(
            "a server's provider models are its own (convoflow providers add, or the API)",
            param_hint="--provider-model",
        )
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


def _run_stored(
    url: str | None, api_key: str | None, workflow_ids: list[str], console: Console
) -> list[CaseResult]:
    from convoflow.testing.driver import DriverError
    from convoflow.testing.remote import run_stored

    if url is None or not api_key:
        raise typer.BadParameter("--stored runs on a server: give --url and --api-key")
    console.print(f"running the suites stored with {len(workflow_ids)} workflow(s) on {url}")
    try:
        return asyncio.run(
            run_stored(url, api_key, workflow_ids, lambda r: print_result_line(console, r))
        )
    except DriverError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from None


def _report(console: Console, results: list[CaseResult], junit: Path | None) -> None:
    for result in results:
        if not result.ok or result.outcome == "skipped":
            print_failure(console, result)
    print_summary(console, results)
    if junit is not None:
        write_junit(junit, results)
        console.print(f"JUnit XML written to {junit}")
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command("test")
def run_test_suites(
    paths: list[Path] = typer.Argument(
        None, help="suite files (*.test.yaml) or directories to search for them"
    ),
    url: str | None = typer.Option(
        None, "--url", help="run against this server's API (default: in-process, throwaway SQLite)"
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="CONVOFLOW_API_KEY", help="the project key, with --url"
    ),
    junit: Path | None = typer.Option(None, "--junit", help="also write JUnit XML here"),
    stored: list[str] = typer.Option(
        None,
        "--stored",
        metavar="WORKFLOW_ID",
        help="run the suite stored with this workflow on the server (--url); repeatable",
    ),
    provider_model: list[str] = typer.Option(
        None, "--provider-model", metavar="name=N,base_url=URL,...", help=PROVIDER_MODEL_HELP
    ),
) -> None:
    """Run conversation test suites: scripted users against a flow, checking what the bot
    says, the variables and the status. Exit 1 on a failure, 2 on a bad suite file."""
    _quiet_engine_logs()
    console = Console(highlight=False)
    paths = paths or []
    if stored:
        if paths:
            raise typer.BadParameter("give suite files or --stored, not both")
        _report(console, _run_stored(url, api_key, stored, console), junit)
        return
    if not paths:
        raise typer.BadParameter("give suite files or directories (or --stored WORKFLOW_ID)")
    found = find_suites(paths)
    if not found:
        console.print(f"no suite files (*.test.yaml) in {', '.join(map(str, paths))}")
        raise typer.Exit(2)
    suites, errors = _load(paths)
    if errors:
        print_suite_errors(console, errors)
        raise typer.Exit(2)
    driver = _driver(url, api_key, provider_model_option(provider_model))
    console.print(f"running {sum(len(s.cases) for s in suites)} cases ({driver.name})")
    results = asyncio.run(_run(driver, suites, console))
    _report(console, results, junit)
