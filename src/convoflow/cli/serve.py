"""`convoflow serve`: the HTTP API (uvicorn), with the engine's worker in the same process
unless `--no-worker` (then run `convoflow worker` processes beside it, PostgreSQL only)."""

from __future__ import annotations

import asyncio
import gc

import typer

from convoflow.cli.app import DatabaseOption, app, database_url
from convoflow.store.db import dialect_of


async def _serve(url: str, host: str, port: int, run_worker: bool, log_level: str) -> None:
    import uvicorn

    from convoflow.api.app import create_app
    from convoflow.process import build_process

    engine = build_process(url)
    try:
        config = uvicorn.Config(
            create_app(engine, run_worker=run_worker),
            host=host,
            port=port,
            log_level=log_level,
            # uvicorn's loggers keep no handlers: their records go through the process's
            # structlog configuration (cli.main), with its redaction.
            log_config=None,
            proxy_headers=False,
        )
        config.load()
        # Everything built so far (modules, routes, pydantic schemas: most of the heap)
        # lives as long as the process: out of the collector's sight, a full collection
        # no longer walks it while holding the GIL, which delayed every request behind
        # one (BENCHMARKS.md, Limits).
        gc.freeze()
        await uvicorn.Server(config).serve()
    finally:
        await engine.close()


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8000, help="TCP port"),
    no_worker: bool = typer.Option(
        False, "--no-worker", help="do not run the worker here (run `convoflow worker`)"
    ),
    log_level: str = typer.Option("info", help="uvicorn log level"),
    database: str | None = DatabaseOption,
) -> None:
    """Serve the Kapso-compatible API (docs at /docs, OpenAPI at /openapi.json)."""
    url = database_url(database)
    if no_worker and dialect_of(url).embedded:
        typer.echo(
            "note: with SQLite nothing else can run the worker; timers, webhook calls and "
            "sends wait until a `convoflow worker` runs against the same file",
            err=True,
        )
    asyncio.run(_serve(url, host, port, not no_worker, log_level))
