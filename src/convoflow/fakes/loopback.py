"""Serve an ASGI app with uvicorn on a free loopback port inside the running event loop:
how tests, the demo and the benchmarks run the fake Graph API (or a tiny receiver) as a
real HTTP server without a subprocess."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn


@asynccontextmanager
async def serve_app(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Yields the base URL (`http://127.0.0.1:<port>`); port 0 picks a free one."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # surfaces the start-up error (port in use, ...)
            raise RuntimeError("the server stopped before it started")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()
    try:
        yield f"http://{host}:{bound[1]}"
    finally:
        server.should_exit = True
        await task
