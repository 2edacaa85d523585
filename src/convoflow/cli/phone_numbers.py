"""`convoflow phone-numbers add|list`: connect WhatsApp numbers to a project. Prints the
number's public view; the token and secrets are stored and never printed back."""

from __future__ import annotations

import json
from typing import Any

import typer

from convoflow.cli.admin import _run
from convoflow.cli.app import DatabaseOption, app, database_url
from convoflow.process import Process

numbers_app = typer.Typer(help="WhatsApp numbers (Meta credentials) of a project.")
app.add_typer(numbers_app, name="phone-numbers")


async def _actor(engine: Process, project: str) -> Any:
    from convoflow.services.common import Actor
    from convoflow.services.projects.accounts import ProjectNotFound, resolve_project

    async with engine.db.read() as conn:
        try:
            project_id = await resolve_project(conn, project)
        except ProjectNotFound as exc:
            raise typer.BadParameter(str(exc), param_hint="--project") from None
    return Actor(project_id=project_id, key_name="convoflow CLI")


@numbers_app.command("add")
def add(
    project: str = typer.Option(..., "--project", help="project name or id"),
    phone_number_id: str = typer.Option(..., help="Meta's phone number id"),
    display_phone_number: str | None = typer.Option(None, help="e.g. +1 555 010 0000"),
    access_token: str = typer.Option(
        ..., envvar="CONVOFLOW_WA_ACCESS_TOKEN", help="Graph API token (never printed)"
    ),
    app_secret: str = typer.Option(
        ..., envvar="CONVOFLOW_WA_APP_SECRET", help="Meta app secret: verifies webhooks"
    ),
    verify_token: str = typer.Option(
        ..., envvar="CONVOFLOW_WA_VERIFY_TOKEN", help="the token Meta's GET handshake sends"
    ),
    business_account_id: str | None = typer.Option(None, help="WhatsApp Business Account id"),
    name: str | None = typer.Option(None, help="a label for the number"),
    verify: bool = typer.Option(
        True,
        "--verify/--no-verify",
        help="check with the Graph API that the token controls the number (the API always "
        "does); --no-verify connects it unchecked",
    ),
    database: str | None = DatabaseOption,
) -> None:
    """Connect a number after the Graph API confirms the token may use it; prints it as
    JSON (without its secrets)."""
    from convoflow.api import whatsapp_views
    from convoflow.services.common import ServiceError
    from convoflow.services.whatsapp import phone_numbers

    spec = phone_numbers.NumberSpec(
        phone_number_id=phone_number_id,
        access_token=access_token,
        app_secret=app_secret,
        verify_token=verify_token,
        display_phone_number=display_phone_number,
        business_account_id=business_account_id,
        name=name,
    )

    async def work(engine: Process) -> dict[str, Any]:
        actor = await _actor(engine, project)
        try:
            row = await phone_numbers.add_number(engine, actor, spec, prefix="--", verify=verify)
        except ServiceError as exc:
            raise typer.BadParameter(exc.message) from None
        return whatsapp_views.phone_number(row)

    typer.echo(json.dumps(_run(database_url(database), work), indent=2))


@numbers_app.command("list")
def list_numbers(
    project: str = typer.Option(..., "--project", help="project name or id"),
    database: str | None = DatabaseOption,
) -> None:
    """The project's numbers as JSON (without secrets)."""
    from convoflow.api import whatsapp_views
    from convoflow.services.whatsapp import phone_numbers

    async def work(engine: Process) -> list[dict[str, Any]]:
        actor = await _actor(engine, project)
        page = await phone_numbers.list_numbers(engine, actor, per_page=100)
        return [whatsapp_views.phone_number(row) for row in page.rows]

    typer.echo(json.dumps(_run(database_url(database), work), indent=2))
