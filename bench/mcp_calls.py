"""MCP tool-call overhead: what one journaled `mcp` action costs the worker
(`engine/mcp.perform_mcp`: a new session, the operation, the session closed), against a
small MCP server made with the official SDK on a loopback port, next to a webhook tool's
plain HTTP POST (`Egress.request`) to a route of the same server process: the ratio is
what the MCP session costs over a bare HTTP call.

- call, stateless: `tools/call` on a server in stateless JSON mode (one request for the
  version discovery, one for the call);
- call, stateful: the same on a server with sessions and SSE answers (initialize, the
  `initialized` notification, the call, the closing DELETE);
- list: `tools/list` of one server (stateless);
- webhook: one `Egress.request` POST answered with JSON by a plain route;
- with `--compare-fresh-pool`: the stateless call again with a new httpx2 connection pool
  per call (what egress did before the MCP clients shared one: an SSL context built, the
  CA bundle loaded, a new connection, every time).

A call is three requests with mcp 2.3: `server/discover`, `tools/list` (the tool listed
first, as the SDK asks), `tools/call`.

The server runs in this process (its CPU is in the figures, as a busy server's would be
in a real call). No database: the journal's transactions are the agent turn's
(`bench/agent.py`).

    python bench/mcp_calls.py --calls 200 --compare-fresh-pool

Record figures in BENCHMARKS.md with the command and the load (`uptime`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from common import percentile  # noqa: E402
from convoflow.engine.egress import Egress  # noqa: E402
from convoflow.engine.mcp import perform_mcp  # noqa: E402
from convoflow.fakes.loopback import serve_app  # noqa: E402


def _app(*, stateless: bool) -> Any:
    from mcp.server.mcpserver import MCPServer
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    server = MCPServer("bench", log_level="WARNING")  # its rich log lines are not ours

    @server.tool()
    async def lookup_order(order_id: str) -> dict[str, str]:
        """Find an order."""  # async: the SDK runs a sync tool in a thread (GIL handoffs)
        return {"order_id": order_id, "status": "shipped"}

    app = server.streamable_http_app(stateless_http=stateless, json_response=stateless)

    async def hook(request: Any) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"order_id": body.get("order_id"), "status": "shipped"})

    app.router.routes.append(Route("/hook", hook, methods=["POST"]))
    return app


async def _timed(label: str, calls: int, once: Callable[[], Awaitable[bool]]) -> dict[str, Any]:
    for _ in range(3):  # warm-up: imports, first connections
        assert await once(), label
    times: list[float] = []
    cpu = time.process_time()
    for _ in range(calls):
        started = time.perf_counter()
        assert await once(), label
        times.append((time.perf_counter() - started) * 1000)
    cpu_ms = (time.process_time() - cpu) * 1000 / calls
    p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
    return {"what": label, "p50_ms": p50, "p99_ms": p99, "cpu_ms": cpu_ms}


async def main(calls: int, compare_fresh_pool: bool) -> None:
    egress = Egress(allow_private_network=True)
    rows = []
    async with serve_app(_app(stateless=True)) as flat, serve_app(_app(stateless=False)) as full:

        def mcp(base: str, op: str, fresh: bool = False) -> Callable[[], Awaitable[bool]]:
            request: dict[str, Any] = {"op": op, "server": "bench", "url": f"{base}/mcp"}
            if op == "list":
                request = {"op": "list", "servers": [request]}
            else:
                request.update(tool="lookup_order", arguments={"order_id": "A1"})

            async def once() -> bool:
                if fresh:
                    await egress.close()  # drops the shared pool: the next op builds one
                result = await perform_mcp(egress, None, request, max_seconds=20)
                return bool(result["ok"]) and all(s["ok"] for s in result.get("servers", []))

            return once

        async def webhook() -> bool:
            outcome = await egress.request(
                "POST", f"{flat}/hook", project_id=None, json_body={"order_id": "A1"}
            )
            return outcome.ok

        rows.append(await _timed("webhook POST (Egress.request)", calls, webhook))
        rows.append(await _timed("mcp call, stateless server", calls, mcp(flat, "call")))
        rows.append(await _timed("mcp call, stateful server", calls, mcp(full, "call")))
        rows.append(await _timed("mcp list, stateless server", calls, mcp(flat, "list")))
        if compare_fresh_pool:
            before = mcp(flat, "call", fresh=True)
            rows.append(await _timed("mcp call, stateless, pool per call", calls, before))
    await egress.close()
    base = rows[0]["p50_ms"]
    for row in rows:
        print(
            f"{row['what']:36} p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  "
            f"cpu {row['cpu_ms']:6.1f} ms/op  p50 x{row['p50_ms'] / base:5.1f} webhook"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--compare-fresh-pool", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.compare_fresh_pool))
