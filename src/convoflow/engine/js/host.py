"""One JavaScript function invocation with its host side: `env` secrets, `env.KV` in our
database, `fetch` through the egress module (its SSRF guard applies as for webhooks)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.engine.egress import Egress
from convoflow.engine.js.runner import JsResult, JsRunner
from convoflow.ids import new_id
from convoflow.store import functions as function_store
from convoflow.store.db import Database

T = TypeVar("T")


class Advance(Protocol):
    """What a host call needs of a write transaction (engine.advance.Advance has it)."""

    conn: AsyncConnection
    now: datetime


class Runtime(Protocol):
    """What an invocation needs of the engine (engine.runtime.Runtime has it): a Protocol,
    because the runtime imports the jobs that import this module."""

    db: Database
    egress: Egress
    js: JsRunner

    async def op(self, fn: Callable[[Any], Awaitable[T]]) -> T: ...


JS_TYPES = ("cloudflare_worker", "supabase_function")
FETCH_TIMEOUT_SECONDS = 10.0
MAX_KV_VALUE_CHARS = 1_000_000


class FunctionHost:
    """Answers the host calls of one invocation of function `row`."""

    def __init__(self, runtime: Runtime, row: sa.RowMapping) -> None:
        self._runtime = runtime
        self._function_id = str(row["id"])
        self._project_id = str(row["project_id"])

    async def __call__(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        if name == "fetch":
            return await self._fetch(args)
        if name.startswith("kv."):
            return await self._kv(name[3:], args)
        return {"error": f"unknown host call {name!r}"}

    async def _fetch(self, args: dict[str, Any]) -> dict[str, Any]:
        body = args.get("body")
        outcome = await self._runtime.egress.request(
            str(args.get("method") or "GET"),
            str(args.get("url")),
            project_id=self._project_id,
            headers={str(k): str(v) for k, v in (args.get("headers") or {}).items()},
            content=body if isinstance(body, str) and body else None,
            timeout_seconds=FETCH_TIMEOUT_SECONDS,
        )
        if outcome.status is None:  # refused by the guard, or no answer at all
            return {"error": outcome.error or "no response"}
        return {
            "status": outcome.status,
            "headers": {"content-type": outcome.content_type},
            "body": outcome.body.decode("utf-8", errors="replace"),
        }

    async def _kv(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        key = str(args.get("key", ""))
        if op != "list" and not 0 < len(key) <= 512:
            return {"error": "KV keys are 1 to 512 characters"}

        async def run(adv: Advance) -> dict[str, Any]:
            conn, fid = adv.conn, self._function_id
            if op == "get":
                return {"value": await function_store.kv_get(conn, fid, key)}
            if op == "put":
                value = str(args.get("value", ""))
                if len(value) > MAX_KV_VALUE_CHARS:
                    return {"error": f"KV values are at most {MAX_KV_VALUE_CHARS} characters"}
                await function_store.kv_put(conn, fid, key, value, adv.now)
                return {}
            if op == "delete":
                await function_store.kv_delete(conn, fid, key)
                return {}
            if op == "increment":
                by = args.get("by", 1)
                if not isinstance(by, int) or isinstance(by, bool) or abs(by) > 2**53:
                    return {"error": "KV.increment takes an integer amount"}
                total = await function_store.kv_increment(conn, fid, key, by, adv.now)
                if total is None:
                    return {"error": f"KV value of {key!r} is not an integer"}
                return {"value": total}
            if op == "list":
                limit = max(1, min(1000, int(args.get("limit") or 1000)))
                keys = await function_store.kv_list(conn, fid, str(args.get("prefix") or ""), limit)
                return {"keys": [{"name": k} for k in keys], "list_complete": len(keys) < limit}
            return {"error": f"unknown KV operation {op!r}"}

        return await self._runtime.op(run)


async def invoke_js(runtime: Runtime, row: sa.RowMapping, payload: Any) -> JsResult:
    """Run function `row`'s handler with a POST whose body is `payload` as JSON."""
    async with runtime.db.read() as conn:
        secrets = await function_store.function_secrets(
            conn, str(row["project_id"]), str(row["id"])
        )
    request = {
        "url": f"https://functions.convoflow.local/{row['slug']}",
        "headers": {"content-type": "application/json"},
        "body": json.dumps(payload),
    }
    key = f"{row['id']}:{row['version']}:{row['updated_at']}"
    return await runtime.js.run(
        key, str(row["code"] or ""), request, secrets, FunctionHost(runtime, row)
    )


def parsed_body(result: JsResult) -> Any:
    """The response body as JSON when it is JSON, else the text (None when empty)."""
    if not result.body:
        return None
    try:
        return json.loads(result.body)
    except ValueError:
        return result.body


async def perform_js(runtime: Runtime, request: dict[str, Any], *, attempt: int) -> dict[str, Any]:
    """A function node's JavaScript call (a journaled action): the result the step reads,
    and a row in the function's invocation log."""
    async with runtime.db.read() as conn:
        row = await function_store.get_function(
            conn, str(request["function_id"]), str(request["project_id"])
        )
    if row is None:
        gone = "the function was deleted"
        return {"ok": False, "status": None, "error": gone, "attempts": attempt}
    result = await invoke_js(runtime, row, request.get("body"))
    body = parsed_body(result)
    ok = result.ok and 200 <= result.status < 300
    error = result.error or (None if ok else f"the handler answered HTTP {result.status}")

    async def record(adv: Advance) -> None:
        await function_store.insert_invocation(
            adv.conn,
            {
                "id": new_id(),
                "function_id": row["id"],
                "execution_id": request.get("execution_id"),
                "status": "success" if result.ok else "failed",
                "status_code": result.status,
                "duration_ms": result.duration_ms,
                "request_body": request.get("body"),
                "response_body": body,
                "error_message": result.error,
                "console_logs": result.logs,
                "created_at": adv.now,
            },
        )

    await runtime.op(record)
    outcome: dict[str, Any] = {
        "ok": ok,
        "status": result.status,
        "body": body,
        "duration_ms": result.duration_ms,
        "attempts": attempt,
    }
    if error is not None:
        outcome["error"] = error
    return outcome
