"""The Typer app and the commands every deployment needs (migrate, worker)."""

from __future__ import annotations

import asyncio
import signal

import typer

from convoflow.config import get_settings

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
    """Create or upgrade the database schema (safe to run repeatedly)."""
    from convoflow.store.migrate import upgrade

    upgrade(database_url(database))
    typer.echo("database is up to date")


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
    from convoflow.services.container import build_engine

    async def run() -> None:
        engine = build_engine(database_url(database), worker_id=worker_id)
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


def _register() -> None:
    # Imported for their side effect of adding commands to `app`.
    from convoflow.cli import admin, chat, fake_meta, flows, phone_numbers, serve  # noqa: F401


_register()
