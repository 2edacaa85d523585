"""Meta's GET subscription handshake for `/webhooks/whatsapp`: echo `hub.challenge` when
`hub.verify_token` is the verify token of a configured number (constant-time compare,
refused when no number has one) and record `webhook_verified_at` on those numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from convoflow.channels.whatsapp.signature import verify_subscription
from convoflow.services.whatsapp.phone_numbers import mark_verified, whatsapp

if TYPE_CHECKING:
    from convoflow.services.process import Process


async def answer_challenge(engine: Process, params: Mapping[str, str]) -> str | None:
    """The challenge to echo, or None (the route answers 403)."""
    numbers = await whatsapp(engine).directory.all_numbers()
    challenge: str | None = None
    for entry in numbers:
        token = entry.credentials.verify_token
        if token and verify_subscription(params, token) is not None:
            challenge = params.get("hub.challenge")
            await mark_verified(engine, entry.credentials.phone_number_id, engine.clock.now())
    return challenge
