"""`function`: call a project function with Kapso's payload; merge the `vars` it returns.

Functions of type `http` are POSTed to their `endpoint_url`; JavaScript functions run in
a V8 isolate (engine/js/). The call is an external action: journaled before, retried with
the same Idempotency-Key after a crash (an http call) or run again (a JavaScript call), its
result journaled after.
"""

from __future__ import annotations

from typing import Any

from convoflow.engine.js.host import JS_TYPES
from convoflow.engine.payloads import function_payload
from convoflow.engine.signals import ActionDone, AwaitAction, Fail, Next, Outcome, Signal
from convoflow.engine.step import StepRun
from convoflow.store import functions as function_store

FUNCTION_TIMEOUT_SECONDS = 30


async def enter(run: StepRun) -> Outcome:
    request = await function_request(run, run.config.function_id)
    if isinstance(request, Fail):
        return request
    return AwaitAction("function", request)


async def on_signal(run: StepRun, signal: Signal) -> Outcome:
    if not isinstance(signal, ActionDone):
        return Fail(f"function {run.node.id!r} got an unexpected {type(signal).__name__}")
    result = signal.result
    if not result.get("ok"):
        message = f"function {run.config.function_id} failed: {result.get('error')}"
        run.emit(
            "action_failed",
            {"action": "function", "status": result.get("status"), "error": result.get("error")},
        )
        return Fail(message, {"status": result.get("status")})
    body = result.get("body")
    run.emit(
        "action_performed",
        {
            "action": "function",
            "status": result.get("status"),
            "duration_ms": result.get("duration_ms"),
        },
    )
    if isinstance(body, dict) and isinstance(body.get("vars"), dict) and body["vars"]:
        run.set_vars(body["vars"], source="function")
    if run.config.save_response_to:
        run.set_vars({run.config.save_response_to: body}, source="function")
    return Next()


async def function_request(
    run: StepRun, function_id: str | None, *, available_edges: list[str] | None = None
) -> dict[str, Any] | Fail:
    if not function_id:
        return Fail(f"node {run.node.id!r} has no function_id", {"field": "function_id"})
    row = await function_store.get_function(run.advance.conn, function_id, run.execution.project_id)
    if row is None:
        return Fail(f"function {function_id} not found in this project", {"field": "function_id"})
    if row["function_type"] in JS_TYPES:
        if row["status"] != "deployed":
            return Fail(
                f"function {row['name']!r} is not deployed (POST /functions/{function_id}/deploy)",
                {"field": "function_id"},
            )
        return {
            "js": True,
            "body": await function_payload(run, available_edges=available_edges),
            "max_attempts": 1,
            "project_id": run.execution.project_id,
            "function_id": function_id,
            "execution_id": run.execution.id,
        }
    if not row["endpoint_url"]:
        return Fail(
            f"function {row['name']!r} has no endpoint_url to call",
            {"field": "function_id"},
        )
    return {
        "url": row["endpoint_url"],
        "method": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": await function_payload(run, available_edges=available_edges),
        "timeout": FUNCTION_TIMEOUT_SECONDS,
        "max_attempts": 3,
        "idempotency_key": run.step_key,
        "project_id": run.execution.project_id,  # whose allow_private_network applies
        "function_id": function_id,
    }
