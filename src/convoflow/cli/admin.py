"""Administration: `convoflow projects create`, `convoflow api-keys create|list|revoke`,
`convoflow demo`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer

from convoflow.cli.app import DatabaseOption, app, database_url, secret_cipher
from convoflow.engine.advance import Advance
from convoflow.process import Process, build_process

projects_app = typer.Typer(help="Projects (each has its own workflows and API keys).")
keys_app = typer.Typer(help="API keys (shown once, stored as SHA-256).")
app.add_typer(projects_app, name="projects")
app.add_typer(keys_app, name="api-keys")

DEMO_PROJECT = "demo"
DEMO_WORKFLOW = "Demo: age check"
_REPO_EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "canonical.json"


def _run(url: str, work: Any) -> Any:
    async def main() -> Any:
        engine = build_process(url)
        try:
            return await work(engine)
        finally:
            await engine.close()

    return asyncio.run(main())


@projects_app.command("create")
def create_project(name: str, database: str | None = DatabaseOption) -> None:
    """Create a project; prints its id."""
    from convoflow.services.projects.accounts import (
        ProjectNotFound,
        create_project,
        resolve_project,
    )

    async def work(engine: Process) -> str:
        async def op(adv: Advance) -> str:
            try:
                existing = await resolve_project(adv.conn, name)
            except ProjectNotFound:
                return await create_project(adv.conn, engine.clock, name)
            raise typer.BadParameter(f"project {name!r} already exists (id {existing})")

        return str(await engine.runtime.op(op))

    typer.echo(_run(database_url(database), work))


@keys_app.command("create")
def create_key(
    project: str = typer.Option(..., "--project", help="project name or id"),
    name: str | None = typer.Option(None, help="a label for the key"),
    database: str | None = DatabaseOption,
) -> None:
    """Create an API key; prints it alone on the last line (it is not shown again)."""
    from convoflow.services.projects.accounts import (
        ProjectNotFound,
        create_api_key,
        resolve_project,
    )

    async def work(engine: Process) -> str:
        async def op(adv: Advance) -> str:
            try:
                project_id = await resolve_project(adv.conn, project)
            except ProjectNotFound as exc:
                raise typer.BadParameter(str(exc)) from None
            return await create_api_key(adv.conn, engine.clock, project_id, name)

        return str(await engine.runtime.op(op))

    key = _run(database_url(database), work)
    typer.echo(f"API key for project {project} (shown once; only its SHA-256 is stored):")
    typer.echo(key)


@keys_app.command("list")
def list_keys(
    project: str | None = typer.Option(
        None, "--project", help="project name or id (default: every project's keys)"
    ),
    database: str | None = DatabaseOption,
) -> None:
    """List keys: id, prefix, name, created, revoked (never the keys); without --project,
    every project's, each line naming its project."""
    from convoflow.clock import utc_iso
    from convoflow.services.projects import api_keys
    from convoflow.services.projects.accounts import ProjectNotFound, resolve_project

    async def work(engine: Process) -> list[Any]:
        if project is None:
            return await api_keys.list_all(engine)
        async with engine.db.read() as conn:
            try:
                project_id = await resolve_project(conn, project)
            except ProjectNotFound as exc:
                raise typer.BadParameter(str(exc)) from None
        return await api_keys.list_keys(engine, project_id)

    for row in _run(database_url(database), work):
        revoked = utc_iso(row["revoked_at"])
        owner = f"project {row['project']}  " if project is None else ""
        typer.echo(
            f"{row['id']}  {row['prefix']}...  {row['name'] or '-'}  {owner}"
            f"created {utc_iso(row['created_at'])}  "
            + (f"REVOKED {revoked}" if revoked else "active")
        )


@keys_app.command("revoke")
def revoke_key(
    key_id: str = typer.Argument(
        ..., help="the key's id (from `convoflow api-keys list`), or the key itself"
    ),
    project: str | None = typer.Option(
        None, "--project", help="project name or id: refuse a key of any other project"
    ),
    database: str | None = DatabaseOption,
) -> None:
    """Revoke a key: refused at once on PostgreSQL, within 10 s by SQLite servers."""
    from convoflow.services.common import NotFound
    from convoflow.services.projects import api_keys
    from convoflow.services.projects.accounts import ProjectNotFound, resolve_project

    async def work(engine: Process) -> str:
        # The argument is resolved as an id or a key either way; --project only narrows
        # which project's key may be revoked.
        only_project: tuple[str, str] | None = None
        if project is not None:
            async with engine.db.read() as conn:
                try:
                    only_project = (await resolve_project(conn, project), project)
                except ProjectNotFound as exc:
                    raise typer.BadParameter(str(exc)) from None
        try:
            return await api_keys.revoke_anywhere(engine, key_id, only_project)
        except NotFound as exc:
            raise typer.BadParameter(exc.message) from None

    revoked = _run(database_url(database), work)
    typer.echo(f"API key {revoked} revoked")


def _read_example(path: Path | None) -> tuple[dict[str, Any], Path]:
    candidates = [path] if path else [Path("examples/canonical.json"), _REPO_EXAMPLE]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            document: dict[str, Any] = json.loads(candidate.read_text())
            return document, candidate
    raise typer.BadParameter(
        f"cannot find the demo flow; pass --flow PATH (looked at {', '.join(map(str, candidates))})"
    )


async def _demo(
    engine: Process, document: dict[str, Any], suite: str | None, llm_url: str
) -> tuple[str, str | None, str]:
    """Project `demo`, a fresh key, the demo workflow (with its test suite, when the flow
    file has one beside it) and the AI demo workflow active with an api_call trigger."""
    from convoflow.cli.demo_setup import ensure_active_workflow, ensure_ai_demo, ensure_suite
    from convoflow.services.common import Actor
    from convoflow.services.projects.accounts import (
        ProjectNotFound,
        create_api_key,
        resolve_project,
    )

    async def setup(adv: Advance) -> tuple[str, str]:
        try:
            project_id = await resolve_project(adv.conn, DEMO_PROJECT)
        except ProjectNotFound:
            from convoflow.services.projects.accounts import create_project

            project_id = await create_project(adv.conn, engine.clock, DEMO_PROJECT)
        key = await create_api_key(adv.conn, engine.clock, project_id, "demo")
        return project_id, key

    project_id, key = await engine.runtime.op(setup)
    actor = Actor(project_id=project_id, key_name="convoflow demo")
    workflow_id = await ensure_active_workflow(engine, actor, DEMO_WORKFLOW, document)
    if suite is not None:
        await ensure_suite(engine, actor, workflow_id, suite)
    ai_workflow_id = await ensure_ai_demo(engine, actor, llm_url)
    return workflow_id, ai_workflow_id, key


@app.command()
def demo(
    flow: Path | None = typer.Option(None, help="flow file (default examples/canonical.json)"),
    port: int = typer.Option(8000, help="port used in the printed curl example"),
    llm_url: str = typer.Option(
        "http://127.0.0.1:8099/v1", help="the AI demo's model: `convoflow fake-llm` by default"
    ),
    database: str | None = DatabaseOption,
) -> None:
    """Create (or reuse) project "demo" with an active demo workflow; print a new key and a
    curl command that starts the workflow on the offline sandbox channel."""
    from convoflow.store.migrate import upgrade

    url = database_url(database)
    upgrade(url, cipher=secret_cipher(url, create_key_file=True))
    document, flow_path = _read_example(flow)
    suite_path = flow_path.with_name(f"{flow_path.stem}.test.yaml")  # canonical.test.yaml
    suite = suite_path.read_text(encoding="utf-8") if suite_path.is_file() else None
    workflow_id, ai_workflow_id, key = _run(
        url, lambda engine: _demo(engine, document, suite, llm_url)
    )
    base = f"http://127.0.0.1:{port}/platform/v1"
    body = json.dumps(
        {"workflow_execution": {"phone_number": "+15550001111", "context": {"channel": "sandbox"}}}
    )
    typer.echo(f"project: {DEMO_PROJECT}\nworkflow: {workflow_id} ({DEMO_WORKFLOW}, active)")
    typer.echo("start it (sandbox channel, no WhatsApp account needed):")
    typer.echo(
        f"  curl -s -X POST {base}/workflows/{workflow_id}/executions \\\n"
        f'    -H "X-API-Key: {key}" -H "Content-Type: application/json" \\\n'
        f"    -d '{body}'"
    )
    typer.echo(
        "then GET /platform/v1/workflow_executions/<id> and POST .../<id>/resume with "
        '{"message": {"data": "42"}}; docs at http://127.0.0.1:' + f"{port}/docs"
    )
    if ai_workflow_id is not None:
        from convoflow.cli.demo_setup import AI_WORKFLOW

        typer.echo(
            f"AI workflow: {ai_workflow_id} ({AI_WORKFLOW}, active): its model `demo-llm` is "
            f"{llm_url}; `make run` starts `convoflow fake-llm --script examples/fake-llm.yaml` "
            "(docs/ai.md)"
        )
    typer.echo("API key (shown once):")
    typer.echo(key)
