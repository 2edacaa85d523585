"""The error-code policy table (whatsapp-cloud-api.md §2.3) -> SendResult."""

from __future__ import annotations

import pytest

from convoflow.channels.whatsapp.errors import Action, GraphError, classify, send_result_for
from convoflow.channels.whatsapp.webhook_bodies import graph_error_body


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (130429, Action.RETRY),
        (131056, Action.RETRY),
        (131000, Action.RETRY),
        (131016, Action.RETRY),
        (135000, Action.RETRY),
        (4, Action.RETRY),
        (80007, Action.RETRY),
        (131047, Action.TERMINAL),
        (131026, Action.TERMINAL),
        (131051, Action.TERMINAL),
        (131048, Action.TERMINAL),
        (131049, Action.TERMINAL),
        (131008, Action.TERMINAL),
        (131009, Action.TERMINAL),
        (100, Action.TERMINAL),
        (132000, Action.TERMINAL),
        (132001, Action.TERMINAL),
        (132005, Action.TERMINAL),
        (132012, Action.TERMINAL),
        (132015, Action.TERMINAL),
        (132016, Action.TERMINAL),
        (132999, Action.TERMINAL),
        (190, Action.ALERT),
        (0, Action.ALERT),
        (10, Action.ALERT),
        (200, Action.ALERT),
        (299, Action.ALERT),
        (368, Action.ALERT),
        (131031, Action.ALERT),
        (130497, Action.ALERT),
    ],
)
def test_policy_table(code: int, action: Action) -> None:
    assert classify(code).action is action


def test_unknown_codes_fall_back_on_http_status() -> None:
    assert classify(None, http_status=429).action is Action.RETRY
    assert classify(999999, http_status=503).action is Action.RETRY
    assert classify(None, http_status=None).action is Action.RETRY  # network error
    assert classify(None, http_status=401).action is Action.ALERT
    assert classify(999999, http_status=400).action is Action.TERMINAL


def test_from_response_reads_meta_error_bodies() -> None:
    payload = graph_error_body(131056, "pair rate limit hit", details="too many", subcode=7)
    error = GraphError.from_response(400, payload)
    assert (error.code, error.subcode, error.http_status) == (131056, 7, 400)
    assert error.details == "too many"
    assert error.fbtrace_id == "AFakeTraceId"
    assert GraphError.from_response(502, "<html>").code is None


def test_131047_is_terminal_and_says_use_a_template() -> None:
    error = GraphError.from_response(400, graph_error_body(131047, "Re-engagement message"))
    result = send_result_for(error)
    assert result.status == "failed"
    assert result.fail_execution is True
    assert result.error is not None
    assert result.error["code"] == 131047
    assert "24 hours" in result.error["message"]
    assert "template" in result.error["message"]
    assert result.error["title"] == "(#131047) Re-engagement message"
    assert result.error["details"] == "Re-engagement message"


def test_rate_limits_retry_with_growing_backoff_then_give_up() -> None:
    error = GraphError.from_response(429, graph_error_body(130429, "Rate limit hit"))
    first, later = send_result_for(error, 1), send_result_for(error, 5)
    assert first.status == later.status == "retry"
    assert first.retry_after_seconds is not None and later.retry_after_seconds is not None
    assert later.retry_after_seconds > first.retry_after_seconds
    exhausted = send_result_for(error, 10)
    assert exhausted.status == "failed" and exhausted.error is not None
    assert "gave up after 10 attempts" in exhausted.error["message"]
    assert exhausted.error["action"] == "terminal"


def test_pair_rate_limit_waits_seconds() -> None:
    error = GraphError.from_response(400, graph_error_body(131056, "pair rate limit hit"))
    result = send_result_for(error)
    assert result.status == "retry"
    assert result.retry_after_seconds is not None and result.retry_after_seconds >= 5


def test_alerts_fail_and_are_flagged() -> None:
    result = send_result_for(GraphError.from_response(401, graph_error_body(190, "bad token")))
    assert result.status == "failed" and result.error is not None
    assert result.error["alert"] is True
    assert result.error["action"] == "alert"


def test_async_failure_from_a_status_webhook() -> None:
    error = GraphError.from_status_error({"code": 131047, "title": "Re-engagement message"})
    assert classify(error.code).action is Action.TERMINAL
    assert "template" in send_result_for(error).error["message"]  # type: ignore[index]
