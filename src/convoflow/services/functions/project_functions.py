"""Project functions through the API.

Two kinds: `http` (an endpoint you host, called with a JSON POST) and Kapso's JavaScript
types (`cloudflare_worker`, `supabase_function`): `async function handler(request, env)`
run in a V8 isolate (engine/js/). Deploying a JavaScript function compiles it first; a
syntax error is refused with its line and column.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from convoflow.engine.advance import Advance
from convoflow.engine.js.host import JS_TYPES, invoke_js, parsed_body
from convoflow.ids import new_id
from convoflow.services.common import (
    UNSET,
    Actor,
    Conflict,
    FieldProblem,
    Invalid,
    Patch,
    delete_in_project,
    in_project,
    invalid,
    not_found,
    read_in_project,
)
from convoflow.services.process import Process
from convoflow.store import functions as function_store
from convoflow.store import projects as project_store

HTTP = "http"
INVOKE_TIMEOUT_SECONDS = 30.0


@dataclass
class FunctionFields(Patch):
    """A create's or a PATCH's fields; UNSET = not sent."""

    name: Any = UNSET
    slug: Any = UNSET
    description: Any = UNSET
    code: Any = UNSET
    function_type: Any = UNSET
    endpoint_url: Any = UNSET
    public_endpoint: Any = UNSET
    invoke_response_mode: Any = UNSET
    runtime_config: Any = UNSET


def _slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:180] or "function"


def _check_http(function_type: str, endpoint_url: Any) -> None:
    if function_type == HTTP and not endpoint_url:
        raise invalid(
            [
                FieldProblem(
                    "function.endpoint_url",
                    "is required for http functions: the https:// URL convoflow POSTs to",
                    "required",
                )
            ]
        )


async def list_functions(engine: Process, actor: Actor) -> list[sa.RowMapping]:
    async with engine.db.read() as conn:
        return await function_store.list_functions(conn, actor.project_id)


async def get_function(engine: Process, actor: Actor, function_id: str) -> sa.RowMapping:
    return await read_in_project(
        engine.db, function_store.get_function, "function", function_id, actor
    )


async def _unique_slug(adv: Advance, actor: Actor, slug: str, exclude: str | None) -> None:
    other = await function_store.slug_owner(adv.conn, actor.project_id, slug, exclude)
    if other is not None:
        raise invalid(
            [
                FieldProblem(
                    "function.slug", f"{slug!r} is already used by function {other}", "taken"
                )
            ]
        )


async def create(engine: Process, actor: Actor, fields: FunctionFields) -> sa.RowMapping:
    endpoint_url = fields.value_or("endpoint_url", None)
    # Kapso's clients send code without a type (Kapso defaults to cloudflare_worker);
    # an endpoint_url without a type means an http function.
    function_type = fields.function_type
    if function_type is UNSET:
        function_type = HTTP if endpoint_url else "cloudflare_worker"
    _check_http(function_type, endpoint_url)
    slug = _slugify(fields.name) if fields.slug is UNSET else fields.slug

    async def run(adv: Advance) -> sa.RowMapping:
        await _unique_slug(adv, actor, slug, None)
        row = {
            "id": new_id(),
            "project_id": actor.project_id,
            "name": fields.name,
            "slug": slug,
            "description": fields.value_or("description", None),
            "function_type": function_type,
            "code": fields.value_or("code", None),
            "endpoint_url": endpoint_url,
            "status": "draft",
            "version": 0,
            "lock_version": 0,
            "invoke_response_mode": fields.value_or("invoke_response_mode", "passthrough"),
            "public_endpoint": fields.value_or("public_endpoint", False),
            "runtime_config": fields.value_or("runtime_config", {}),
            "created_by_id": actor.key_id,
            "created_at": adv.now,
            "updated_at": adv.now,
        }
        await function_store.insert_function(adv.conn, row)
        created = await function_store.get_function(adv.conn, row["id"], actor.project_id)
        assert created is not None
        return created

    return await engine.runtime.op(run)


async def update(
    engine: Process, actor: Actor, function_id: str, fields: FunctionFields
) -> sa.RowMapping:
    async def run(adv: Advance) -> sa.RowMapping:
        row = await in_project(
            adv.conn, function_store.get_function, "function", function_id, actor
        )
        lock = int(row["lock_version"])
        if fields.lock_version is not None and fields.lock_version != lock:
            raise Conflict(
                f"lock_version {fields.lock_version} is stale: function {function_id} is at "
                f"lock_version {lock}. Fetch it again and retry."
            )
        values = fields.sent(
            "name",
            "description",
            "code",
            "endpoint_url",
            "public_endpoint",
            "invoke_response_mode",
            "runtime_config",
        )
        if fields.slug is not UNSET and fields.slug != row["slug"]:
            await _unique_slug(adv, actor, fields.slug, function_id)
            values["slug"] = fields.slug
        _check_http(row["function_type"], values.get("endpoint_url", row["endpoint_url"]))
        values.update(lock_version=lock + 1, updated_at=adv.now)
        await function_store.update_function(adv.conn, function_id, values, lock)
        updated = await function_store.get_function(adv.conn, function_id, actor.project_id)
        assert updated is not None
        return updated

    return await engine.runtime.op(run)


async def delete(engine: Process, actor: Actor, function_id: str) -> None:
    await delete_in_project(
        engine.runtime, function_store.get_function, function_store.delete_function,
        "function", function_id, actor,
    )  # fmt: skip


async def deploy(engine: Process, actor: Actor, function_id: str) -> sa.RowMapping:
    """An http function is live once its endpoint is set: deploying records a version.
    A JavaScript function must compile and define `handler` first."""
    current = await get_function(engine, actor, function_id)
    if current["function_type"] in JS_TYPES:
        await _compile(engine, function_id, str(current["code"] or ""))

    async def run(adv: Advance) -> sa.RowMapping:
        row = await in_project(
            adv.conn, function_store.get_function, "function", function_id, actor
        )
        values = {
            "status": "deployed",
            "version": int(row["version"] or 0) + 1,
            "last_deployed_at": adv.now,
            "updated_at": adv.now,
        }
        await function_store.update_function(adv.conn, function_id, values, None)
        deployed = await function_store.get_function(adv.conn, function_id, actor.project_id)
        assert deployed is not None
        return deployed

    return await engine.runtime.op(run)


async def _compile(engine: Process, function_id: str, code: str) -> None:
    checked = await engine.runtime.js.check(code)
    if checked.get("error"):
        where = ""
        if checked.get("line"):
            where = f" at line {checked['line']}, column {checked.get('column')}"
        raise invalid(
            [
                FieldProblem(
                    "function.code",
                    f"does not compile{where}: {checked['error']} (function {function_id})",
                    "syntax",
                )
            ]
        )


async def _deployed(engine: Process, actor: Actor, function_id: str) -> sa.RowMapping:
    row = await get_function(engine, actor, function_id)
    if row["status"] != "deployed":
        raise Invalid(f"function {function_id} is not deployed; POST /functions/{{id}}/deploy")
    return row


async def list_secrets(engine: Process, actor: Actor, function_id: str) -> list[dict[str, str]]:
    await get_function(engine, actor, function_id)
    async with engine.db.read() as conn:
        rows = await function_store.list_secrets(conn, actor.project_id, function_id)
    return [{"name": row["name"], "type": row["value_type"]} for row in rows]


async def set_secret(
    engine: Process, actor: Actor, function_id: str, name: str, value: Any
) -> None:
    await _deployed(engine, actor, function_id)
    text = value if isinstance(value, str) else json.dumps(value)
    kind = "text" if isinstance(value, str) else "json"

    async def run(adv: Advance) -> None:
        await project_store.upsert_secret(
            adv.conn,
            {
                "id": new_id(),
                "project_id": actor.project_id,
                "scope": function_id,
                "name": name,
                "value": text,
                "value_type": kind,
                "created_at": adv.now,
                "updated_at": adv.now,
            },
        )

    await engine.runtime.op(run)


async def delete_secret(engine: Process, actor: Actor, function_id: str, name: str) -> None:
    await _deployed(engine, actor, function_id)

    async def run(adv: Advance) -> bool:
        return await function_store.delete_secret(adv.conn, actor.project_id, function_id, name)

    if not await engine.runtime.op(run):
        raise not_found("secret", name)


async def invocations(
    engine: Process, actor: Actor, function_id: str, status: str | None, limit: int
) -> tuple[sa.RowMapping, list[sa.RowMapping]]:
    row = await get_function(engine, actor, function_id)
    async with engine.db.read() as conn:
        rows = await function_store.list_invocations(conn, function_id, status=status, limit=limit)
    return row, rows


@dataclass(frozen=True)
class Invocation:
    id: str
    ok: bool
    status_code: int
    body: bytes
    content_type: str
    parsed: Any
    error: str | None
    duration_ms: int | None = None
    console_logs: list[dict[str, Any]] | None = None


async def invoke(
    engine: Process, function_id: str, actor: Actor | None, payload: Any
) -> tuple[sa.RowMapping, Invocation]:
    """Call the function's endpoint with `payload`. Without an API key (`actor` None) only
    a public function can be invoked; a private one looks unknown (404), as in Kapso."""
    async with engine.db.read() as conn:
        row = await function_store.get_function(conn, function_id, None)
    if row is None or (actor is None and not row["public_endpoint"]):
        raise not_found("function", function_id)
    if actor is not None and actor.project_id != row["project_id"]:
        raise not_found("function", function_id)
    if row["status"] != "deployed":
        raise Invalid("Function is not deployed")
    if row["function_type"] in JS_TYPES:
        result = await _call_js(engine, row, payload)
    else:
        result = await _call(engine, row, payload)
    await _record(engine, row, payload, result)
    return row, result


async def _call(engine: Process, row: sa.RowMapping, payload: Any) -> Invocation:
    invocation_id = new_id()
    outcome = await engine.runtime.egress.request(
        "POST",
        str(row["endpoint_url"] or ""),
        project_id=str(row["project_id"]),
        json_body=payload,
        timeout_seconds=INVOKE_TIMEOUT_SECONDS,
        idempotency_key=invocation_id,
    )
    return Invocation(
        invocation_id,
        outcome.ok,
        outcome.status or 0,
        outcome.body,
        outcome.content_type,
        outcome.parsed(),
        outcome.error,
        outcome.duration_ms,
    )


async def _call_js(engine: Process, row: sa.RowMapping, payload: Any) -> Invocation:
    result = await invoke_js(engine.runtime, row, payload)
    return Invocation(
        new_id(),
        result.ok,  # the handler returned a Response: its status is passed through
        result.status,
        result.body.encode(),
        result.headers.get("content-type", "text/plain;charset=UTF-8"),
        parsed_body(result),
        result.error,
        result.duration_ms,
        result.logs,
    )


async def _record(engine: Process, row: sa.RowMapping, payload: Any, result: Invocation) -> None:
    async def run(adv: Advance) -> None:
        await function_store.insert_invocation(
            adv.conn,
            {
                "id": result.id,
                "function_id": row["id"],
                "execution_id": None,
                "status": "success" if result.ok else "failed",
                "status_code": result.status_code,
                "duration_ms": result.duration_ms,
                "request_body": payload,
                "response_body": result.parsed,
                "error_message": result.error,
                "console_logs": result.console_logs,
                "created_at": adv.now,
            },
        )

    await engine.runtime.op(run)
