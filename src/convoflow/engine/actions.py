"""Performing journaled external calls (webhook and function nodes), outside any
transaction. The result goes back to the execution as ActionDone in a new transaction.

The call itself is the egress module's; what is ours is the journaled request's shape,
the retry policy (the job is rescheduled with backoff until `max_attempts`) and the
result the step reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convoflow.engine.egress import Egress
from convoflow.engine.sealed import open_body, open_headers, open_url, shown_url
from convoflow.store.cipher import SecretCipher, SecretKeyError

MAX_BODY_CHARS = 256_000


@dataclass(frozen=True)
class RetryLater:
    delay_seconds: float
    error: str


def backoff_seconds(attempt: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """The wait after failed attempt number `attempt` (1, 2, ...): `base` doubled per
    failure, at most `cap`. Every journaled call's retries (webhooks, functions, LLMs)."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


async def perform_http(
    egress: Egress, request: dict[str, Any], *, attempt: int, cipher: SecretCipher | None = None
) -> dict[str, Any] | RetryLater:
    """One attempt. Retryable outcomes (network errors, 5xx, 429 with Retry-After, a host
    that does not resolve yet) are retried until max_attempts; the rest are final.
    Headers come sealed (`headers_sealed`, opened with `cipher`) or, journaled by an older
    version or without secrets (a function's), as `headers`; the url and body come sealed
    (`url_sealed`, `body_sealed`) when their templates name a project secret."""
    max_attempts = int(request.get("max_attempts") or 3)
    method = str(request.get("method") or "POST").upper()
    try:
        sealed = open_headers(cipher, request.get("headers_sealed"))
        headers = {**(request.get("headers") or {}), **sealed}
        url = open_url(cipher, request)
        body = open_body(cipher, request) if method != "GET" else None
    except SecretKeyError as exc:
        # Journaled under a key since removed: no retry can open it.
        return {"ok": False, "status": None, "body": None, "attempts": attempt, "error": str(exc)}
    outcome = await egress.request(
        method,
        url,
        project_id=request.get("project_id"),
        headers=headers,
        content=body if isinstance(body, str) else None,
        json_body=None if isinstance(body, str) else body,
        timeout_seconds=float(request.get("timeout") or 10),
        idempotency_key=str(request["idempotency_key"]),
        shown_url=shown_url(request),
    )
    if outcome.kind == "retryable" and attempt < max_attempts:
        delay = max(backoff_seconds(attempt), outcome.retry_after or 0.0)
        return RetryLater(delay, outcome.error or "retryable")
    result: dict[str, Any] = {
        "ok": outcome.ok,
        "status": outcome.status,
        "body": outcome.parsed(MAX_BODY_CHARS),
        "attempts": attempt,
    }
    if outcome.status is not None:
        result["duration_ms"] = outcome.duration_ms
    if not outcome.ok:
        result["error"] = outcome.error
    return result
