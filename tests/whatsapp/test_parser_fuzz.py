"""The parser never raises, whatever JSON-ish input it gets."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convoflow.channels.whatsapp.inbound import ParsedWebhook, parse_webhook
from tests.whatsapp.conftest import all_cases

KEYS = st.sampled_from(
    [
        "object", "entry", "id", "changes", "field", "value", "metadata", "phone_number_id",
        "messages", "statuses", "errors", "contacts", "from", "timestamp", "type", "text",
        "body", "interactive", "button_reply", "list_reply", "nfm_reply", "response_json",
        "button", "payload", "image", "caption", "location", "latitude", "longitude",
        "reaction", "emoji", "message_id", "context", "referral", "system", "order", "code",
        "status", "recipient_id", "biz_opaque_callback_data", "wa_id", "profile", "name",
    ]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["messages", "text", "interactive", "nfm_reply", "button_reply", "{"])
)
JSONISH = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(KEYS | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=40,
)


def check(result: ParsedWebhook) -> None:
    for message in result.messages:
        assert message.message["type"]
        assert "input" in message.message
    for status in result.statuses:
        assert status.wamid and status.status


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_arbitrary_values(payload: Any) -> None:
    check(parse_webhook(payload))


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(parse_webhook(raw))


MESSAGE_BODIES = [body for _, _, body in all_cases()]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MESSAGE_BODIES), JSONISH, st.lists(KEYS, min_size=1, max_size=3))
def test_fixture_bodies_with_one_field_replaced(
    body: dict[str, Any], replacement: Any, path: list[str]
) -> None:
    """Real bodies with a value swapped for junk somewhere inside the message/status."""
    mutated = json.loads(json.dumps(body))
    value = mutated["entry"][0]["changes"][0]["value"]
    target = (value.get("messages") or value.get("statuses"))[0]
    for key in path[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = {}
            target[key] = child
        target = child
    target[path[-1]] = replacement
    check(parse_webhook(mutated))
    check(parse_webhook(json.dumps(mutated, allow_nan=True).encode()))


def test_deeply_nested_input() -> None:
    assert parse_webhook(b"[" * 100_000).rejected
    flow = {"type": "nfm_reply", "nfm_reply": {"response_json": "[" * 100_000}}
    body = {
        "entry": [
            {
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": "1"},
                            "messages": [
                                {
                                    "from": "2",
                                    "id": "wamid.X",
                                    "type": "interactive",
                                    "interactive": flow,
                                }
                            ],
                        },
                    }
                ]
            }
        ]
    }
    (message,) = parse_webhook(body).messages
    assert message.message["response_json"] == "[" * 100_000  # kept as the raw string
