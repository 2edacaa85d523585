"""`convoflow fake-meta`: run the fake WhatsApp Graph API; `convoflow fake-meta say`:
make a simulated user send a message through it (a signed inbound webhook)."""

from __future__ import annotations

import json
from typing import Any

import typer

from convoflow.cli.app import app

fake_meta = typer.Typer(
    help="The fake WhatsApp Cloud API: develop and test flows with no Meta account.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(fake_meta, name="fake-meta")

DEFAULT_FAKE_URL = "http://127.0.0.1:8088"


@fake_meta.callback()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8088, help="port to listen on"),
    webhook_url: str | None = typer.Option(
        None,
        help="where to POST inbound and status webhooks, e.g. http://127.0.0.1:8000/webhooks/whatsapp",
    ),
    app_secret: str | None = typer.Option(
        None, envvar="CONVOFLOW_FAKE_APP_SECRET", help="signs the webhooks (X-Hub-Signature-256)"
    ),
    phone_number_id: str | None = typer.Option(
        None, help="the business number simulated users write to (default 100000000000001)"
    ),
    statuses: str = typer.Option(
        "sent,delivered,read", help="status webhooks after each send; '' sends none"
    ),
    status_delay: float = typer.Option(0.02, help="seconds between two status webhooks"),
) -> None:
    """Serve the fake Graph API (POST /{version}/{phone_number_id}/messages, /_fake/...)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from convoflow.fakes.graph.server import DEFAULT_PHONE_NUMBER_ID, FakeGraph

    fake = FakeGraph(
        webhook_url=webhook_url,
        app_secret=app_secret,
        statuses=[s.strip() for s in statuses.split(",") if s.strip()],
        status_delay_seconds=status_delay,
        default_phone_number_id=phone_number_id or DEFAULT_PHONE_NUMBER_ID,
    )
    typer.echo(f"fake Graph API on http://{host}:{port} (base URL for convoflow: "
               f"CONVOFLOW_GRAPH_BASE_URL=http://{host}:{port}/v23.0)")  # fmt: skip
    uvicorn.run(fake.app, host=host, port=port, log_level="warning")


def _say_request(
    sender: str,
    text: str | None,
    button: str | None,
    list_row: str | None,
    title: str | None,
    location: str | None,
) -> dict[str, Any]:
    request: dict[str, Any] = {"from": sender}
    if button or list_row:
        kind = "button_reply" if button else "list_reply"
        option = button or list_row
        request[kind] = {"id": option, "title": title or option}
    elif location:
        latitude, _, longitude = location.partition(",")
        try:
            request["location"] = {"latitude": float(latitude), "longitude": float(longitude)}
        except ValueError as exc:
            raise typer.BadParameter("--location expects LAT,LNG") from exc
    elif text is not None:
        request["text"] = text
    else:
        raise typer.BadParameter("say something: --text, --button, --list-row or --location")
    return request


@fake_meta.command()
def say(
    sender: str = typer.Option(..., "--from", help="the user's wa_id, e.g. 15550001"),
    text: str | None = typer.Option(None, help="a text message"),
    button: str | None = typer.Option(None, help="reply to buttons with this button id"),
    list_row: str | None = typer.Option(None, help="reply to a list with this row id"),
    title: str | None = typer.Option(None, help="the button's / row's title (default: id)"),
    location: str | None = typer.Option(None, help="share a location: LAT,LNG"),
    name: str | None = typer.Option(None, help="the user's profile name"),
    phone_number_id: str | None = typer.Option(None, help="the business number written to"),
    fake_url: str = typer.Option(DEFAULT_FAKE_URL, envvar="CONVOFLOW_FAKE_META_URL"),
) -> None:
    """A simulated user sends a message: the fake POSTs a signed inbound webhook."""
    import httpx

    request = _say_request(sender, text, button, list_row, title, location)
    if name:
        request["name"] = name
    if phone_number_id:
        request["phone_number_id"] = phone_number_id
    try:
        response = httpx.post(f"{fake_url.rstrip('/')}/_fake/inbound", json=request, timeout=30)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach the fake Graph API at {fake_url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if response.status_code >= 400:
        typer.echo(f"the fake Graph API refused: {response.text}", err=True)
        raise typer.Exit(1)
    data = response.json()["data"]
    typer.echo(json.dumps({"wamid": data["wamid"], "webhook_status": data["webhook_status"]}))
    if data["webhook_status"] is None or data["webhook_status"] >= 400:
        typer.echo(
            "the webhook was not accepted (is the fake started with --webhook-url, and is "
            "convoflow listening there with the same app secret?)",
            err=True,
        )
        raise typer.Exit(2)
