"""`GET/POST /webhooks/whatsapp`: Meta's subscription handshake and its signed webhooks.
No API key: Meta authenticates with the verify token (GET) and the body's HMAC (POST)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from fastapi import Request, Response
from fastapi.responses import PlainTextResponse

from convoflow.api.auth import EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.openapi import error_responses
from convoflow.api.ratelimit import RateLimits
from convoflow.api.responses import ok
from convoflow.channels.whatsapp.signature import SIGNATURE_HEADER
from convoflow.services.whatsapp.handshake import answer_challenge
from convoflow.services.whatsapp.inbound import receive_webhook

if TYPE_CHECKING:
    from convoflow.process import Process

router = api_router(tags=["WhatsApp webhook (Meta)"])
PLAIN_TEXT = {"text/plain": {"schema": {"type": "string"}}}
SIGNATURE_REFUSED = (401, 403)  # receive_webhook: signature missing / not matching


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
    responses=error_responses(400, 401, 403, 413, 429, 503),
)
async def receive(request: Request) -> Response:
    # No dependencies: this is the hottest route (one request per message and status),
    # and resolving even the engine dependency costs more than reading it here.
    started = time.perf_counter()
    engine: Process = request.app.state.engine
    raw = await request.body()
    outcome = await receive_webhook(engine, raw, request.headers.get(SIGNATURE_HEADER))
    engine.runtime.metrics.webhook_acknowledged(outcome.status_code, started)
    if outcome.status_code in SIGNATURE_REFUSED:
        # Around the verification, not in it: only its outcome decides, so a valid
        # webhook is never limited, whoever sent bad ones from the same address.
        limits: RateLimits = request.app.state.limits
        limits.check_bad_signature(request.client.host if request.client else "unknown")
    return ok(outcome.body, status_code=outcome.status_code)
