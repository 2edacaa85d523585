"""Performing journaled external calls (webhook and function nodes), outside any
transaction. The result goes back to the execution as ActionDone in a new transaction."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from convoflow.engine.egress import EgressRefused, check_url

MAX_BODY_CHARS = 256_000


@dataclass(frozen=True)
class RetryLater:
    delay_seconds: float
    error: str


def backoff_seconds(attempt: int) -> float:
    return float(min(60, 2 ** max(0, attempt - 1)))


def _parse_body(response: httpx.Response) -> Any:
    text = response.text[:MAX_BODY_CHARS]
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


async def perform_http(
    client: httpx.AsyncClient,
    request: dict[str, Any],
    *,
    attempt: int,
    allow_private_default: bool,
) -> dict[str, Any] | RetryLater:
    """One attempt. Network errors and 5xx are retried (RetryLater) until max_attempts;
    4xx and refused targets are final."""
    max_attempts = int(request.get("max_attempts") or 3)
    url = str(request["url"])
    try:
        await check_url(
            url, allow_private=bool(request.get("allow_private")) or allow_private_default
        )
    except EgressRefused as exc:
        return {"ok": False, "status": None, "body": None, "error": str(exc), "attempts": attempt}
    headers = dict(request.get("headers") or {})
    headers["Idempotency-Key"] = str(request["idempotency_key"])
    method = str(request.get("method") or "POST").upper()
    body = request.get("body")
    kwargs: dict[str, Any] = {"headers": headers, "timeout": float(request.get("timeout") or 10)}
    if method != "GET" and body is not None:
        if isinstance(body, str):
            kwargs["content"] = body
        else:
            kwargs["json"] = body
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if attempt < max_attempts:
            return RetryLater(backoff_seconds(attempt), error)
        return {"ok": False, "status": None, "body": None, "error": error, "attempts": attempt}
    duration_ms = int((time.perf_counter() - started) * 1000)
    parsed = _parse_body(response)
    status = response.status_code
    if status >= 500 and attempt < max_attempts:
        return RetryLater(backoff_seconds(attempt), f"HTTP {status}")
    ok = 200 <= status < 300
    result: dict[str, Any] = {
        "ok": ok,
        "status": status,
        "body": parsed,
        "duration_ms": duration_ms,
        "attempts": attempt,
    }
    if not ok:
        result["error"] = f"HTTP {status} from {method} {url}"
    return result
