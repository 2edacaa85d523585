"""Graph API errors and what the engine does about them (whatsapp-cloud-api.md §2.3).

Meta asks integrators to branch on `code` (and `error_data.details`), never on titles,
so `classify` looks only at the code, the subcode and the HTTP status. Three outcomes:
retry (rate limits, transient failures: bounded, exponential backoff), terminal (the
message can never go out as it is: fail the step with a message that says why and what
to do), alert (the number/app is misconfigured: terminal too, and logged loudly because
every send from that number will fail the same way).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from convoflow.channels.base import SendResult
from convoflow.channels.whatsapp._json import integer, obj, text


class Action(StrEnum):
    RETRY = "retry"
    TERMINAL = "terminal"
    ALERT = "alert"


@dataclass(frozen=True)
class Policy:
    action: Action
    explanation: str
    base_delay: float = 0.0  # retry: first delay, doubled per attempt
    max_attempts: int = 0  # retry: after this many sends, give up (terminal)
    max_delay: float = 300.0


class GraphError(Exception):
    """An error answer from the Graph API (or no answer at all: `code` None)."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        title: str | None = None,
        details: str | None = None,
        subcode: int | None = None,
        error_type: str | None = None,
        fbtrace_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.title = title
        self.details = details
        self.subcode = subcode
        self.error_type = error_type
        self.fbtrace_id = fbtrace_id
        self.retry_after = retry_after

    @classmethod
    def from_response(
        cls, http_status: int, payload: Any, retry_after: float | None = None
    ) -> GraphError:
        """From an error response body `{"error": {message, type, code, error_data, ...}}`."""
        error = obj(obj(payload).get("error"))
        message = text(error.get("message")) or f"Graph API answered HTTP {http_status}"
        return cls(
            message,
            code=integer(error.get("code")),
            http_status=http_status,
            title=text(error.get("error_user_title")) or text(error.get("title")),
            details=text(obj(error.get("error_data")).get("details")),
            subcode=integer(error.get("error_subcode")),
            error_type=text(error.get("type")),
            fbtrace_id=text(error.get("fbtrace_id")),
            retry_after=retry_after,
        )

    @classmethod
    def from_status_error(cls, error: dict[str, Any]) -> GraphError:
        """From one error of a `failed` status webhook (inbound.StatusUpdate.errors)."""
        code = error.get("code")
        return cls(
            text(error.get("message")) or text(error.get("title")) or "message failed",
            code=code if isinstance(code, int) else integer(code),
            title=text(error.get("title")),
            details=text(error.get("details")),
        )

    def __str__(self) -> str:
        return f"({self.code}) {self.message}" if self.code is not None else self.message


_RATE = "WhatsApp's rate limit was reached"
_TRANSIENT = "WhatsApp reported a temporary error"
_INVALID = "WhatsApp rejected the message as invalid (a parameter is missing or malformed)"
_ALERT = "the WhatsApp number or app is not authorised to send; check its access token"

_POLICIES: dict[int, Policy] = {
    130429: Policy(Action.RETRY, f"{_RATE} (throughput of this number)", 1.0, 10, 60.0),
    131056: Policy(Action.RETRY, f"{_RATE} (too many messages to this user)", 6.0, 8),
    4: Policy(Action.RETRY, f"{_RATE} (app API calls)", 30.0, 8),
    80007: Policy(Action.RETRY, f"{_RATE} (business account API calls)", 30.0, 8),
    613: Policy(Action.RETRY, f"{_RATE} (API calls)", 30.0, 8),
    1: Policy(Action.RETRY, _TRANSIENT, 5.0, 5),
    2: Policy(Action.RETRY, _TRANSIENT, 5.0, 5),
    131000: Policy(Action.RETRY, f"{_TRANSIENT} (unknown error)", 5.0, 5),
    131016: Policy(Action.RETRY, f"{_TRANSIENT} (service unavailable)", 5.0, 5),
    135000: Policy(Action.RETRY, f"{_TRANSIENT} (generic user error)", 5.0, 3),
    131057: Policy(Action.RETRY, "the business account is in maintenance mode", 60.0, 5),
    131047: Policy(
        Action.TERMINAL,
        "more than 24 hours have passed since the user last wrote, so WhatsApp's "
        "customer-service window has closed; only a template message can reach them now "
        "(use a send_template node to re-engage)",
    ),
    131026: Policy(
        Action.TERMINAL,
        "the message is undeliverable: the recipient is not on WhatsApp, uses an old "
        "client, or has not accepted WhatsApp's terms",
    ),
    131051: Policy(Action.TERMINAL, "WhatsApp does not support this message type"),
    131048: Policy(Action.TERMINAL, "too many earlier messages were flagged as spam"),
    131049: Policy(
        Action.TERMINAL, "WhatsApp held the message back (per-user marketing message limit)"
    ),
    131050: Policy(Action.TERMINAL, "the user has stopped receiving marketing messages"),
    130472: Policy(Action.TERMINAL, "the user's number is part of a WhatsApp experiment"),
    131021: Policy(Action.TERMINAL, "the recipient is the sending number itself"),
    131030: Policy(Action.TERMINAL, "the recipient is not in the number's allowed list"),
    131008: Policy(Action.TERMINAL, f"{_INVALID}: a required parameter is missing"),
    131009: Policy(Action.TERMINAL, f"{_INVALID}: a parameter value is invalid"),
    100: Policy(Action.TERMINAL, _INVALID),
    131052: Policy(Action.TERMINAL, "WhatsApp could not download the media"),
    131053: Policy(Action.TERMINAL, "WhatsApp could not upload the media"),
    132000: Policy(Action.TERMINAL, "the template's parameter count does not match"),
    132001: Policy(Action.TERMINAL, "the template does not exist in this language"),
    132005: Policy(Action.TERMINAL, "the template's text is too long once filled in"),
    132007: Policy(Action.TERMINAL, "the template's content violates WhatsApp policy"),
    132012: Policy(Action.TERMINAL, "a template parameter has the wrong format"),
    132015: Policy(Action.TERMINAL, "the template is paused for low quality"),
    132016: Policy(Action.TERMINAL, "the template is disabled"),
    190: Policy(Action.ALERT, "the access token has expired or is invalid"),
    0: Policy(Action.ALERT, _ALERT),
    3: Policy(Action.ALERT, "the app lacks the capability for this call"),
    10: Policy(Action.ALERT, "permission denied for this number"),
    368: Policy(Action.ALERT, "the account is temporarily blocked for policy violations"),
    131005: Policy(Action.ALERT, "access denied for this number"),
    131031: Policy(Action.ALERT, "the business account is locked"),
    130497: Policy(Action.ALERT, "the business account may not message this country"),
    131042: Policy(Action.ALERT, "the business account has a payment problem"),
    131045: Policy(Action.ALERT, "the number's certificate is wrong (re-register it)"),
}


def classify(
    code: int | None, subcode: int | None = None, http_status: int | None = None
) -> Policy:
    """The policy for an error. `subcode` is accepted for finer rules later; none of the
    codes in the table needs it today."""
    if code is not None:
        known = _POLICIES.get(code)
        if known is not None:
            return known
        if 200 <= code <= 299:
            return Policy(Action.ALERT, "the app lacks a permission for this number")
        if 132000 <= code <= 132999:
            return Policy(Action.TERMINAL, "the template cannot be sent as configured")
        if 133000 <= code <= 133999:
            return Policy(Action.ALERT, "the number is not registered with the Cloud API")
    if http_status == 429:
        return Policy(Action.RETRY, _RATE, 2.0, 10, 60.0)
    if http_status in (401, 403):
        return Policy(Action.ALERT, _ALERT)
    if http_status is None or http_status >= 500:
        # No answer (network) or a server error: the message may be fine; try again.
        return Policy(Action.RETRY, "WhatsApp could not be reached or failed", 5.0, 5)
    return Policy(Action.TERMINAL, "WhatsApp refused the message")


def retry_delay(policy: Policy, attempt: int, hint: float | None = None) -> float:
    """Exponential backoff with ±10 % jitter (so a burst of refused sends does not come
    back in lockstep); never less than a server-provided hint."""
    delay = min(policy.max_delay, policy.base_delay * 2 ** max(0, attempt - 1))
    delay *= random.uniform(0.9, 1.1)  # jitter, not security
    return float(max(delay, hint or 0.0, 0.1))


def describe(error: GraphError, policy: Policy | None = None) -> dict[str, Any]:
    """The error dict recorded on the outbox row and shown in the failed execution."""
    policy = policy or classify(error.code, error.subcode, error.http_status)
    label = f"WhatsApp error {error.code}" if error.code is not None else "WhatsApp send failed"
    described: dict[str, Any] = {
        "code": error.code,
        "message": f"{label}: {policy.explanation} ({error.message})",
        "title": error.title or error.message,
        "details": error.details,
        "action": policy.action.value,
    }
    extras = {
        "subcode": error.subcode,
        "http_status": error.http_status,
        "fbtrace_id": error.fbtrace_id,
    }
    described.update({key: value for key, value in extras.items() if value is not None})
    return described


def send_result_for(error: GraphError, attempt: int = 1) -> SendResult:
    """Map a failed send to the dispatcher's SendResult. `attempt` is the outbox row's
    attempt count (1 on the first send), which bounds retries."""
    policy = classify(error.code, error.subcode, error.http_status)
    described = describe(error, policy)
    if policy.action is Action.RETRY:
        if attempt < policy.max_attempts:
            delay = retry_delay(policy, attempt, error.retry_after)
            return SendResult("retry", error=described, retry_after_seconds=delay)
        described["message"] += f"; gave up after {attempt} attempts"
        described["action"] = Action.TERMINAL.value
    if policy.action is Action.ALERT:
        described["alert"] = True
    return SendResult("failed", error=described, fail_execution=True)
