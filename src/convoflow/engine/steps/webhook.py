"""`webhook`: an HTTP call with rendered url, headers and body (DECISIONS.md).

The request is rendered and journaled in the advancing transaction (its headers, and its
url and body when they name a `${ENV:X}` secret, sealed: engine/sealed.py); the worker makes the
call with an `Idempotency-Key` stable for this visit of the node, retries network errors
and 5xx, and brings the result back as ActionDone.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from convoflow.engine.sealed import seal_body, seal_headers, seal_url
from convoflow.engine.signals import ActionDone, AwaitAction, Fail, Next, Outcome, Signal
from convoflow.engine.step import StepRun
from convoflow.engine.steps import _ai_fields as ai_fields
from convoflow.store.cipher import SecretKeyError

DEFAULT_ERROR_VARIABLE = "webhook_error"


async def enter(run: StepRun) -> Outcome:
    config = run.config
    headers: Any = config.headers
    if isinstance(headers, str):  # Kapso's legacy export stores headers as a JSON string
        try:
            headers = json.loads(headers) if headers.strip() else {}
        except json.JSONDecodeError:
            return Fail(
                f"webhook {run.node.id!r}: headers is not a JSON object", {"field": "headers"}
            )
    body = config.body_template
    if isinstance(body, str) and body.strip().startswith(("{", "[")):
        with contextlib.suppress(json.JSONDecodeError):  # a plain string body is allowed
            body = json.loads(body)
    # The body may be (or hold) AI fields, generated after rendering (not templates).
    rendered = await ai_fields.generate(run, {"body": await run.render_any(body, "body_template")})
    if isinstance(rendered, AwaitAction | Fail):
        return rendered
    rendered_headers = await run.render_any(headers, "headers")
    url = await run.render(config.url, "url")
    cipher = run.advance.runtime.db.cipher
    try:
        # Sealed: a header often holds a `${ENV:X}` project secret (engine/sealed.py).
        sealed = seal_headers(cipher, {str(k): str(v) for k, v in rendered_headers.items()})
        # So does a url (`?key=${ENV:X}`) or a body naming one; the journal keeps the template.
        url_fields = seal_url(cipher, config.url, url)
        body_fields = seal_body(cipher, body, rendered["body"])
    except SecretKeyError as exc:  # the message names headers, url or body
        return Fail(f"webhook {run.node.id!r}: {exc}")
    request = {
        **url_fields,
        "method": config.method,
        "headers_sealed": sealed,
        **body_fields,
        "timeout": config.timeout_seconds,
        "max_attempts": config.max_attempts,
        "idempotency_key": run.step_key,
        "project_id": run.execution.project_id,  # whose allow_private_network applies
    }
    return AwaitAction("webhook", request)


async def on_signal(run: StepRun, signal: Signal) -> Outcome:
    if isinstance(signal, ActionDone) and ai_fields.is_field_answer(signal):
        ai_fields.record_answer(run, signal)
        return await enter(run)
    if not isinstance(signal, ActionDone):
        return Fail(f"webhook {run.node.id!r} got an unexpected {type(signal).__name__}")
    config = run.config
    result = signal.result
    summary = {
        "action": "webhook",
        "status": result.get("status"),
        "duration_ms": result.get("duration_ms"),
        "attempts": result.get("attempts"),
    }
    if result.get("ok"):
        run.emit("action_performed", summary)
        if config.save_response_to:
            run.set_vars({config.save_response_to: result.get("body")}, source="webhook")
        return Next()
    message = str(result.get("error") or f"HTTP {result.get('status')}")
    run.emit("action_failed", {**summary, "error": message})
    if config.continue_on_error:
        error = {"message": message, "status": result.get("status"), "body": result.get("body")}
        run.set_vars({config.save_error_to or DEFAULT_ERROR_VARIABLE: error}, source="webhook")
        return Next()
    return Fail(f"webhook {run.node.id!r} failed: {message}", {"status": result.get("status")})
