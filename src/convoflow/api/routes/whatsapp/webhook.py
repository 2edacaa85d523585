"""`GET/POST /webhooks/whatsapp`: Meta's subscription handshake and its signed webhooks.
No API key: Meta authenticates with the verify token (GET) and the body's HMAC (POST)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response
from fastapi.responses import PlainTextResponse

from convoflow.api.auth import EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.openapi import error_responses, success
from convoflow.api.ratelimit import RateLimits
from convoflow.api.response_models import WebhookAck
from convoflow.api.responses import ok
from convoflow.channels.whatsapp.signature import SIGNATURE_HEADER
from convoflow.services.whatsapp.handshake import answer_challenge
from convoflow.services.whatsapp.inbound import Refusal, WebhookOutcome, receive_webhook

if TYPE_CHECKING:
    from convoflow.process import Process

router = api_router(tags=["WhatsApp webhook (Meta)"])
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
    # No dependencies: this is the hottest route (one request per message and status),
    # and resolving even the engine dependency costs more than reading it here.
    started = time.perf_counter()
    engine: Process = request.app.state.engine
    raw = await request.body()
    outcome = await receive_webhook(engine, raw, request.headers.get(SIGNATURE_HEADER))
    status_code, body = _rendered(outcome)
    engine.runtime.metrics.webhook_acknowledged(status_code, started)
    if outcome.refusal in SIGNATURE_REFUSED:
        # Around the verification, not in it: only its outcome decides, so a valid
        # webhook is never limited, whoever sent bad ones from the same address.
        limits: RateLimits = request.app.state.limits
        limits.check_bad_signature(request.client.host if request.client else "unknown")
    return ok(body, status_code=status_code)


def _rendered(outcome: WebhookOutcome) -> tuple[int, dict[str, Any]]:
    if outcome.refusal is None:
        return 200, {"data": {"received": True, **(outcome.counts or {})}}
    status_code, message = REFUSALS[outcome.refusal]
    return status_code, {"error": message.format(reason=outcome.reason)}
