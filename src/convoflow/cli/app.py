"""The Typer app and the commands every deployment needs (migrate, worker).

The other command modules add their commands to `app` when imported; cli/__init__.py
imports them all, so this module imports none of them (no import loop)."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

import typer

from convoflow.config import get_settings, secret_key_of

if TYPE_CHECKING:
    from convoflow.store.cipher import SecretCipher

app = typer.Typer(
    name="convoflow",
    help="Durable WhatsApp conversation flows with a Kapso-compatible API.",
    no_args_is_help=True,
    add_completion=False,
    # Typer's rich traceback prints every frame's local variables: request headers,
    # access tokens, secrets. A plain traceback names the error without them.
    pretty_exceptions_show_locals=False,
)


def database_url(option: str | None) -> str:
    return option or get_settings().database_url


DatabaseOption = typer.Option(
    None,
    "--database-url",
    envvar="CONVOFLOW_DATABASE_URL",
    help="SQLAlchemy URL; default sqlite+aiosqlite:///./convoflow.db",
)


@app.command()
def migrate(database: str | None = DatabaseOption) -> None:
    """Create or upgrade the database schema (safe to run repeatedly). With SQLite and no
    CONVOFLOW_SECRET_KEY, creates the secret key file beside the database."""
    from convoflow.store.migrate import upgrade

    url = database_url(database)
    cipher = secret_cipher(url, create_key_file=True)
    upgrade(url, cipher=cipher)
    typer.echo("database is up to date")


def secret_cipher(url: str, *, create_key_file: bool = False) -> SecretCipher:
    """The process's cipher, or exit with the reason (PostgreSQL without a key...)."""
    from convoflow.store.cipher import SecretKeyError, ensure_key_file, load_cipher

    secret_key = secret_key_of(get_settings())
    try:
        created = ensure_key_file(secret_key, url) if create_key_file else None
        if created is not None:
            typer.echo(
                f"created the secret key file {created} (mode 0600): it encrypts the tokens "
                "and secrets in this database; back it up apart from the database, or set "
                "CONVOFLOW_SECRET_KEY instead",
                err=True,
            )
        return load_cipher(secret_key, url)
    except SecretKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def worker(
    database: str | None = DatabaseOption,
    worker_id: str | None = typer.Option(None, help="defaults to host:pid"),
    metrics_port: int | None = typer.Option(
        None,
        help="serve this worker's counters (sends, Graph errors, ...) as Prometheus "
        "text on 127.0.0.1:PORT/metrics; the database gauges come from `convoflow serve`",
    ),
) -> None:
    """Run a worker: timers, webhook/function calls, routing, outbox sends. On PostgreSQL
    start as many as you like; on SQLite `convoflow serve` already runs one."""
    from convoflow.process import build_process

    async def run() -> None:
        engine = build_process(database_url(database), worker_id=worker_id)
        if metrics_port is not None:
            from prometheus_client import start_http_server

            # Loopback only: the worker has no token check of its own.
            start_http_server(
                metrics_port, addr="127.0.0.1", registry=engine.runtime.metrics.registry
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await engine.worker.run(stop)
        finally:
            await engine.close()

    asyncio.run(run())
