"""Kapso's rate limits (kapso-reference.md §5), counted in memory per process.

- Requests per API key per fixed one-minute window (default 1000,
  `CONVOFLOW_RATE_LIMIT_PER_MINUTE`): `X-RateLimit-Limit` / `X-RateLimit-Remaining` on
  every response; 429 with `Retry-After: 60` when exceeded.
- Workflow starts per (API key, workflow) per fixed one-second window (default 30,
  `CONVOFLOW_START_BURST_PER_SECOND`): `X-Burst-RateLimit-Limit` / `-Remaining`; 429
  with `Retry-After: 1`.

- Meta webhooks whose signature does not verify, per source address per fixed one-minute
  window (default 30, `CONVOFLOW_BAD_SIGNATURE_PER_MINUTE`): past it, such requests get
  429 with `Retry-After: 60` instead of 401/403. Only failures count and only failures
  are refused: the signature is checked first, so a valid webhook from the same address
  is always accepted (api/routes/whatsapp/webhook.py).

In memory means per process: with N API processes a key gets up to N times the limit.
That is a documented simplification (docs/api.md); the counters cost no database work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from convoflow.api.errors import ApiError

RATE_LIMIT_BODY = {
    "error": "Rate limit exceeded",
    "message": "You have exceeded the rate limit. Please try again later.",
}
BURST_BODY = {
    "error": "Burst rate limit exceeded",
    "message": "Too many workflow execution requests in a short period. Try again in 1 second.",
}


@dataclass
class _Window:
    started: float
    count: int


class FixedWindow:
    """Counts hits per key in fixed windows of `seconds`."""

    def __init__(
        self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.seconds = seconds
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def hit(self, key: str) -> tuple[bool, int]:
        """(allowed, remaining after this hit)."""
        now = self._clock()
        window = self._windows.get(key)
        if window is None or now - window.started >= self.seconds:
            if len(self._windows) > 100_000:
                self._sweep(now)
            window = _Window(now, 0)
            self._windows[key] = window
        if window.count >= self.limit:
            return False, 0
        window.count += 1
        return True, self.limit - window.count

    def _sweep(self, now: float) -> None:
        expired = [k for k, w in self._windows.items() if now - w.started >= self.seconds]
        for key in expired:
            del self._windows[key]


class RateLimits:
    def __init__(self, per_minute: int, burst_per_second: int, bad_signatures: int = 30) -> None:
        self.requests = FixedWindow(per_minute, 60.0)
        self.starts = FixedWindow(burst_per_second, 1.0)
        self.bad_signatures = FixedWindow(bad_signatures, 60.0)

    def check_bad_signature(self, address: str) -> None:
        """Count one webhook that failed the signature check; ApiError(429) past the limit."""
        allowed, _remaining = self.bad_signatures.hit(address)
        if not allowed:
            raise ApiError(
                429,
                f"Too many webhooks with a missing or wrong X-Hub-Signature-256 from {address}: "
                f"at most {self.bad_signatures.limit} a minute are answered; expected "
                "sha256=HMAC-SHA256(app secret of the number, raw body). Validly signed "
                "webhooks are not limited.",
                headers={"Retry-After": "60"},
            )

    def check_request(self, key_id: str) -> dict[str, str]:
        """Count one request; the headers to send, or ApiError(429)."""
        allowed, remaining = self.requests.hit(key_id)
        headers = {
            "X-RateLimit-Limit": str(self.requests.limit),
            "X-RateLimit-Remaining": str(remaining),
        }
        if not allowed:
            raise ApiError(
                429,
                RATE_LIMIT_BODY["error"],
                headers={**headers, "Retry-After": "60"},
                extra={"message": RATE_LIMIT_BODY["message"]},
            )
        return headers

    def check_start(self, key_id: str, workflow_id: str) -> dict[str, str]:
        allowed, remaining = self.starts.hit(f"{key_id}:{workflow_id}")
        headers = {
            "X-Burst-RateLimit-Limit": str(self.starts.limit),
            "X-Burst-RateLimit-Remaining": str(remaining),
        }
        if not allowed:
            raise ApiError(
                429,
                BURST_BODY["error"],
                headers={**headers, "Retry-After": "1"},
                extra={"message": BURST_BODY["message"]},
            )
        return headers
