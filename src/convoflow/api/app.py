"""The FastAPI application: Kapso's `/platform/v1` and older `/api/v1`, `/healthz`,
OpenAPI at `/openapi.json`, docs at `/docs`.

`create_app(engine)` serves an engine built by convoflow.process; by default it also
runs that engine's worker (timers, webhook calls, routing, sends) in the same process,
so one `convoflow serve` is a complete SQLite deployment. With PostgreSQL, run API
processes with `--no-worker` and `convoflow worker` processes beside them, as you like.
The caller owns the engine and closes it after the app stops (unless `close_engine`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from convoflow import __version__
from convoflow.api.bodies import BodyLimits
from convoflow.api.console import install_console
from convoflow.api.errors import install_error_handlers
from convoflow.api.middleware import ApiMiddleware
from convoflow.api.openapi import install_openapi
from convoflow.api.ratelimit import RateLimits
from convoflow.api.responses import JSONBody
from convoflow.api.routes import (
    api_keys,
    editor,
    executions,
    functions,
    health,
    legacy_flows,
    metrics,
    provider_models,
    sandbox,
    streams,
    test_suites,
    triggers,
    whatsapp,
    workflows,
)
from convoflow.api.routes.whatsapp.webhook import receive_direct, takes_direct_lane
from convoflow.engine.start_up import start_server
from convoflow.process import Process
from convoflow.testing.stored import SuiteRuns

log = structlog.get_logger(__name__)

PLATFORM_PREFIX = "/platform/v1"
LEGACY_PREFIX = "/api/v1"

DESCRIPTION = """\
Self-hosted, Kapso-compatible API for durable WhatsApp conversation flows.

Authenticate with your project key in `X-API-Key` (or `Authorization: Bearer <key>`).
Differences from Kapso are listed in docs/api.md: starts and resumes are processed before
the response is sent, `workflow_execution.context.channel = "sandbox"` runs an execution
on the offline sandbox channel, `Idempotency-Key` is honoured on starts and resumes.
"""


class ConvoflowApi(FastAPI):
    """Meta's webhooks skip the middleware stack and the router: `receive_direct` does
    what they would (api/routes/whatsapp/webhook.py). Every other request, and a webhook
    URL with a query string or a trailing slash, goes the usual way."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if takes_direct_lane(scope):
            scope["app"] = self
            await receive_direct(self, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(engine: Process, *, run_worker: bool = True, close_engine: bool = False) -> FastAPI:
    """`close_engine`: the app owns the engine and closes it when it shuts down (for hosts
    that run the app in an event loop of their own, like schemathesis' ASGI client)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        # LISTEN, and the reconcile hold of the sends a crash left uncertain counted from
        # now (a server takes their status webhooks); then the worker, if it runs here.
        task = await start_server(engine.dispatcher, engine.worker, stop, run_worker=run_worker)
        # /healthz answers from its last ping (services/health/probe.py).
        engine.health.start()
        try:
            yield
        finally:
            stop.set()
            await engine.health.stop()
            try:
                await asyncio.wait_for(task, engine.runtime.settings.worker_stop_seconds)
            except Exception:
                log.exception("worker did not stop cleanly")
            # Here, not only in Process.close: uvicorn re-raises SIGTERM once it has served,
            # so code after it (cli/serve.py's close) does not run, and the definition
            # workers must not be left to notice on their own that we are gone.
            await asyncio.to_thread(engine.cpu.shutdown)
            await suite_runs.close()
            if close_engine:
                await engine.close()

    app = ConvoflowApi(
        title="convoflow",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=JSONBody,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    settings = engine.runtime.settings
    app.state.engine = engine
    suite_runs = SuiteRuns(settings)
    app.state.suite_runs = suite_runs
    app.state.limits = RateLimits(
        settings.rate_limit_per_minute,
        settings.start_burst_per_second,
        settings.bad_signature_per_minute,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimits, definition_bytes=settings.max_definition_bytes)
    app.add_middleware(ApiMiddleware)  # outermost
    _include_routes(app)
    install_openapi(app)
    return app


def _include_routes(app: FastAPI) -> None:
    """In matching order: Meta's webhook first (the hot path), the console last."""
    app.include_router(whatsapp.meta_webhook_router)  # first: the hot path (see there)
    app.include_router(health.router)
    app.include_router(metrics.router)
    for module in (
        workflows,
        triggers,
        executions,
        functions,
        provider_models,
        api_keys,
        editor,
        sandbox,
        streams,
        test_suites,
    ):
        app.include_router(module.router, prefix=PLATFORM_PREFIX)
    app.include_router(legacy_flows.router, prefix=LEGACY_PREFIX)
    app.include_router(whatsapp.router)  # /meta/..., /platform/v1/whatsapp/...
    install_console(app)  # last: its routes are only `/`, `/console/...`, `/assets/...`
