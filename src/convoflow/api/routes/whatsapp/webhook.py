"""`GET/POST /webhooks/whatsapp`: Meta's subscription handshake and its signed webhooks.
No API key: Meta authenticates with the verify token (GET) and the body's HMAC (POST)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import Request, Response
from fastapi.responses import PlainTextResponse
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from convoflow.api.auth import EngineDep
from convoflow.api.bodies import WEBHOOK_BODY_BYTES, api_router, read_body
from convoflow.api.middleware import INTERNAL_ERROR, json_message
from convoflow.api.openapi import error_responses, success
from convoflow.api.ratelimit import RateLimits
from convoflow.api.response_models import WebhookAck
from convoflow.api.responses import ok
from convoflow.channels.whatsapp.signature import SIGNATURE_HEADER
from convoflow.services.whatsapp.handshake import answer_challenge
from convoflow.services.whatsapp.inbound import Refusal, WebhookOutcome, receive_webhook

if TYPE_CHECKING:
    from convoflow.process import Process

log = structlog.get_logger(__name__)

router = api_router(tags=["WhatsApp webhook (Meta)"])
WEBHOOK_PATH = "/webhooks/whatsapp"
SIGNATURE_BYTES = SIGNATURE_HEADER.lower().encode()
PLAIN_TEXT = {"text/plain": {"schema": {"type": "string"}}}
SIGNATURE_REFUSED = (Refusal.UNSIGNED, Refusal.BAD_SIGNATURE)
REFUSALS = {
    Refusal.UNSIGNED: (401, "Missing X-Hub-Signature-256 header: Meta signs every webhook "
                            "with the app secret; unsigned bodies are refused"),
    Refusal.BAD_SIGNATURE: (403, "X-Hub-Signature-256 does not match the body: expected "
                                 "sha256=HMAC-SHA256(app secret of the number, raw body)"),
    Refusal.NOT_STORED: (503, "The webhook could not be stored: {reason}. Nothing was "
                              "acknowledged; Meta will retry the delivery."),
}  # fmt: skip


@router.get(
    "/webhooks/whatsapp",
    summary="Meta's subscription handshake",
    response_class=PlainTextResponse,
    responses={403: {"description": "Wrong mode or verify token", "content": PLAIN_TEXT}},
)
async def verify(request: Request, engine: EngineDep) -> Response:
    challenge = await answer_challenge(engine, request.query_params)
    if challenge is None:
        return PlainTextResponse(
            "Forbidden: hub.mode must be subscribe and hub.verify_token must match the "
            "verify token of a configured phone number",
            status_code=403,
        )
    return PlainTextResponse(challenge)


@router.post(
    "/webhooks/whatsapp",
    summary="Meta's signed webhook (messages and statuses)",
    # No dependencies or body model (read raw for the signature): declared by hand.
    responses={**success(WebhookAck), **error_responses(400, 401, 403, 413, 429, 503)},
)
async def receive(request: Request) -> Response:
    """Reached only by requests the direct lane leaves to the app (`receive_direct`: a
    query string, a trailing slash); the same answer."""
    raw = await request.body()
    host = request.client.host if request.client else None
    return await answer(request.app.state, raw, request.headers.get(SIGNATURE_HEADER), host)


async def answer(state: State, raw: bytes, signature: str | None, host: str | None) -> Response:
    started = time.perf_counter()
    engine: Process = state.engine
    outcome = await receive_webhook(engine, raw, signature)
    status_code, body = _rendered(outcome)
    engine.runtime.metrics.webhook_acknowledged(status_code, started)
    if outcome.refusal in SIGNATURE_REFUSED:
        # Around the verification, not in it: only its outcome decides, so a valid
        # webhook is never limited, whoever sent bad ones from the same address.
        limits: RateLimits = state.limits
        limits.check_bad_signature(host or "unknown")
    return ok(body, status_code=status_code)


def takes_direct_lane(scope: Scope) -> bool:
    return (
        scope["type"] == "http"
        and scope["path"] == WEBHOOK_PATH
        and scope["method"] == "POST"
        and not scope.get("query_string")
    )


async def receive_direct(app: Starlette, scope: Scope, receive: Receive, send: Send) -> None:
    """`POST /webhooks/whatsapp` without Starlette's middleware, routing and request
    objects: the hottest route (one request per message and status), where they were
    half of the server's CPU per message (BENCHMARKS.md). What they give this route is
    done here: the body limit while it streams in, the app's exception handlers (429,
    503), a logged JSON 500 for anything else. Mounted by `api/app.py: ConvoflowApi`."""
    try:
        raw = await read_body(scope, receive, WEBHOOK_BODY_BYTES)
        response = await answer(app.state, raw, _header(scope, SIGNATURE_BYTES), _host(scope))
    except ClientDisconnect:
        return  # nobody to answer; Meta delivers it again
    except Exception as exc:
        handler = next(
            (app.exception_handlers[kind] for kind in type(exc).__mro__
             if kind in app.exception_handlers and kind is not Exception),
            None,
        )  # fmt: skip
        if handler is None:
            log.exception("unhandled error", method="POST", path=WEBHOOK_PATH)
            for message in json_message(500, {"error": INTERNAL_ERROR}):
                await send(message)
            return
        response = await handler(Request(scope, receive), exc)
    await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _host(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def _rendered(outcome: WebhookOutcome) -> tuple[int, dict[str, Any]]:
    if outcome.refusal is None:
        return 200, {"data": {"received": True, **(outcome.counts or {})}}
    status_code, message = REFUSALS[outcome.refusal]
    return status_code, {"error": message.format(reason=outcome.reason)}
