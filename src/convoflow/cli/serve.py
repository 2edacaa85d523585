"""`convoflow serve`: the HTTP API (uvicorn), with the engine's worker in the same process
unless `--no-worker` (then run `convoflow worker` processes beside it, PostgreSQL only).

SIGTERM or SIGINT stops it cleanly: uvicorn stops accepting, finishes the requests in
flight and runs the app's shutdown (the worker finishes the jobs it holds, for up to
`CONVOFLOW_WORKER_STOP_SECONDS`; one cut short is rolled back and retried once its lease
ends); then `Process.close` flushes the group committer and closes the pools; exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Iterator
from types import FrameType

import structlog
import typer

from convoflow.cli.app import DatabaseOption, app, database_url
from convoflow.store.db import dialect_of

log = structlog.get_logger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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
        with _stop_signals_kept() as received:
            await uvicorn.Server(config).serve()
    finally:
        await engine.close()
    log.info("server stopped cleanly", signal=received[0].name if received else None)


@contextlib.contextmanager
def _stop_signals_kept() -> Iterator[list[signal.Signals]]:
    """uvicorn handles the stop signals while it serves, then restores the handlers it
    found and raises the signal it got again, for them. With the default ones that
    killed the process there (SIGTERM) or raised KeyboardInterrupt through our shutdown
    (SIGINT), so `Process.close` never ran. These only note the signal: uvicorn has
    already stopped serving, and the caller closes the process and returns."""
    received: list[signal.Signals] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum))

    previous = {sig: signal.signal(sig, note) for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
