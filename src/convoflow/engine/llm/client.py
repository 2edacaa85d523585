"""`LLMClient.attempt`: one model call through the egress module (SSRF guard, one
connection pool) with a timeout, and whether and when to try again: on 429, 5xx and
network errors, after an exponential backoff (or the provider's Retry-After when it is
longer). The engine's action jobs make one attempt per run and reschedule themselves
(engine/llm/journaled.py), so a retry survives a restart. It never raises for what the
provider or the network does: a failed call is an `LLMResult` with `ok` False and the
reason."""

from __future__ import annotations

import time
from dataclasses import replace

from convoflow.engine.actions import backoff_seconds
from convoflow.engine.egress import Egress, Outcome
from convoflow.engine.llm import anthropic, openai
from convoflow.engine.llm.model import LLMRequest, LLMResult, MalformedResponse, Provider

MAX_BACKOFF_SECONDS = 30.0


def _retryable(outcome: Outcome) -> bool:
    # A 429 is worth retrying even without Retry-After (egress's classify needs one
    # because webhooks cannot tell a rate limit from a refusal; LLM APIs always mean it).
    return outcome.kind == "retryable" or outcome.status == 429


def _error_of(outcome: Outcome) -> str:
    detail = outcome.parsed(300) if outcome.body else None
    if isinstance(detail, dict) and isinstance(detail.get("error"), dict):
        detail = detail["error"].get("message")
    base = outcome.error or "the call failed"
    return f"{base}: {detail}" if detail else base


class LLMClient:
    def __init__(
        self,
        egress: Egress,
        *,
        max_attempts: int = 3,
        backoff_seconds: float = 1.0,
    ) -> None:
        self.egress = egress
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds

    async def attempt(
        self, provider: Provider, request: LLMRequest, *, project_id: str | None, attempt: int
    ) -> tuple[LLMResult, float | None]:
        """One attempt, and the seconds to wait before the next one (None: final, because
        it succeeded, cannot succeed by retrying, or was the last allowed). The engine's
        action jobs call this once per run and reschedule, so a retry survives restarts
        and no job outlives its lease."""
        wire = anthropic if provider.kind == "anthropic" else openai
        started = time.perf_counter()
        outcome = await self.egress.request(
            "POST",
            wire.url(provider.base_url),
            project_id=project_id,
            headers=wire.headers(provider.api_key, request),
            json_body=wire.body(provider.model, request),
            timeout_seconds=request.timeout_seconds,
        )
        result = replace(
            self._read(wire, outcome, attempt),
            latency_ms=int((time.perf_counter() - started) * 1000),
        )
        if result.ok or not _retryable(outcome) or attempt >= self.max_attempts:
            return result, None
        delay = backoff_seconds(attempt, base=self.backoff_seconds, cap=MAX_BACKOFF_SECONDS)
        return result, min(MAX_BACKOFF_SECONDS, max(delay, outcome.retry_after or 0.0))

    @staticmethod
    def _read(wire: object, outcome: Outcome, attempt: int) -> LLMResult:
        failed = LLMResult(ok=False, attempts=attempt, status=outcome.status)
        if not outcome.ok:
            return replace(failed, error=_error_of(outcome))
        try:
            parsed = outcome.parsed()
            read = openai.result if wire is openai else anthropic.result
            return replace(read(parsed), attempts=attempt, status=outcome.status)
        except MalformedResponse as exc:
            return replace(failed, error=f"the provider's answer is malformed: {exc}")
