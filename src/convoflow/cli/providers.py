"""`convoflow providers add|list|remove`: a project's provider models (the LLMs its AI
nodes call). The API key is read from an option or CONVOFLOW_PROVIDER_API_KEY and never
printed back."""

from __future__ import annotations

import json
from typing import Any

import typer

from convoflow.cli.admin import _run
from convoflow.cli.app import DatabaseOption, app, database_url
from convoflow.cli.phone_numbers import _actor
from convoflow.process import Process

providers_app = typer.Typer(help="Provider models (LLMs) of a project.")
app.add_typer(providers_app, name="providers")
ProjectOption = typer.Option(..., "--project", help="project name or id")


def _do(database: str | None, project: str, call: Any) -> Any:
    from convoflow.services.common import ServiceError

    async def work(engine: Process) -> Any:
        actor = await _actor(engine, project)
        try:
            return await call(engine, actor)
        except ServiceError as exc:
            raise typer.BadParameter(exc.message) from None

    return _run(database_url(database), work)


@providers_app.command("add")
def add(
    name: str = typer.Option(..., help="what nodes call it (provider_model_name)"),
    provider: str = typer.Option(
        "openai", help="openai (any Chat Completions server) or anthropic"
    ),
    model: str | None = typer.Option(None, help="the provider's model id (default: --name)"),
    base_url: str | None = typer.Option(
        None, help="e.g. http://127.0.0.1:8099/v1 (default: the provider's public API)"
    ),
    api_key: str | None = typer.Option(
        None, envvar="CONVOFLOW_PROVIDER_API_KEY", help="stored encrypted, never printed"
    ),
    timeout: float | None = typer.Option(None, help="seconds per attempt (default 20)"),
    project: str = ProjectOption,
    database: str | None = DatabaseOption,
) -> None:
    """Add a provider model; prints it as JSON (without its key)."""
    from convoflow.api.routes.provider_models import provider_model_view
    from convoflow.services.ai import provider_models as models

    fields = models.ModelFields(
        name=name,
        provider=provider,
        model=model,
        base_url=base_url,
        api_key=api_key,
        timeout_seconds=timeout,
    )

    async def call(engine: Process, actor: Any) -> dict[str, Any]:
        return provider_model_view(await models.create(engine, actor, fields))

    typer.echo(json.dumps(_do(database, project, call), indent=2))


@providers_app.command("list")
def list_models(project: str = ProjectOption, database: str | None = DatabaseOption) -> None:
    """The project's provider models as JSON (without keys)."""
    from convoflow.api.routes.provider_models import provider_model_view
    from convoflow.services.ai import provider_models as models

    async def call(engine: Process, actor: Any) -> list[dict[str, Any]]:
        return [provider_model_view(row) for row in await models.list_models(engine, actor)]

    typer.echo(json.dumps(_do(database, project, call), indent=2))


@providers_app.command("remove")
def remove(
    model_id: str = typer.Argument(..., help="the provider model's id or name"),
    project: str = ProjectOption,
    database: str | None = DatabaseOption,
) -> None:
    """Remove a provider model (nodes naming it then fall back or fail, as without one)."""
    from convoflow.services.ai import provider_models as models

    async def call(engine: Process, actor: Any) -> None:
        await models.delete(engine, actor, await models.resolve_id(engine, actor, model_id))

    _do(database, project, call)
    typer.echo(f"removed {model_id}")
