"""API test fixtures: the real app on the real databases (SQLite and PostgreSQL).

`client` talks to the app in-process (httpx ASGI transport, no worker task: tests drain
the worker when they need it); `live_server` runs it under uvicorn on a loopback port
with its worker, for the end-to-end and SDK tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from convoflow.api.app import create_app
from convoflow.config import Settings
from convoflow.engine.advance import Advance
from convoflow.process import Process
from convoflow.services.projects.accounts import create_api_key, create_project


@pytest.fixture
def settings() -> Settings:
    # Generous limits: the rate-limit tests build their own app with small ones.
    return Settings(
        worker_poll_seconds=0.05,
        rate_limit_per_minute=1_000_000,
        start_burst_per_second=1_000_000,
    )


async def new_project(engine: Process, name: str, **settings: Any) -> tuple[str, str]:
    """(project id, API key)."""

    async def create(adv: Advance) -> tuple[str, str]:
        project_id = await create_project(adv.conn, engine.clock, name, settings)
        return project_id, await create_api_key(adv.conn, engine.clock, project_id, "tests")

    return await engine.runtime.op(create)


@pytest.fixture
async def project(engine: Process) -> tuple[str, str]:
    return await new_project(engine, "acme")


@pytest.fixture
def app(engine: Process) -> Any:
    return create_app(engine, run_worker=False)


@pytest.fixture
async def client(app: Any, project: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"X-API-Key": project[1]}
    ) as http:
        yield http


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Run `app` under uvicorn on a free loopback port in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def live_server(engine: Process) -> AsyncIterator[str]:
    async with serve(create_app(engine, run_worker=True)) as base_url:
        yield base_url
