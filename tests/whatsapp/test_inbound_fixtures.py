"""Every wa-fixtures case parses, and each kind normalises as DECISIONS.md says."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from convoflow.channels.whatsapp.inbound import InboundMessage, parse_webhook
from convoflow.channels.whatsapp.normalise import MEDIA_TYPES
from convoflow.store import whatsapp_queries
from tests.whatsapp.conftest import all_cases, load_fixture_file

CASES = all_cases()


def one_message(file: str, case: str) -> InboundMessage:
    parsed = parse_webhook(json.dumps(load_fixture_file(file)[case]).encode())
    assert not parsed.rejected
    assert len(parsed.messages) == 1
    return parsed.messages[0]


def test_the_corpus_is_complete() -> None:
    # 23 + 7 + 3 + 2 + 2 + 2 cases (wa-fixtures README).
    assert len(CASES) == 39


def test_the_media_filter_knows_every_media_kind() -> None:
    """`has_media` (store/) keeps its own copy of the media kinds; it must not drift."""
    assert whatsapp_queries.MEDIA_TYPES == MEDIA_TYPES


@pytest.mark.parametrize(("file", "case", "body"), CASES, ids=[f"{f}:{c}" for f, c, _ in CASES])
def test_every_case_parses(file: str, case: str, body: dict[str, Any]) -> None:
    parsed = parse_webhook(json.dumps(body).encode())
    assert parsed.object == "whatsapp_business_account"
    assert not parsed.rejected
    assert len(parsed.messages) + len(parsed.statuses) == 1
    for message in parsed.messages:
        assert message.wamid.startswith("wamid.")
        assert message.wa_id == "972987654321"
        assert message.phone_number_id == "1122334455667"
        assert message.timestamp is not None and message.timestamp.tzinfo is not None
        assert message.message["channel"] == "whatsapp"
        assert isinstance(message.message["text"], str)
        assert "input" in message.message
        json.dumps(message.message)  # what routing stores must be JSON
    assert parsed.phone_number_ids


def test_text() -> None:
    message = one_message("message.json", "text")
    assert message.message == {
        "type": "text",
        "text": "Body Text",
        "input": "Body Text",
        "channel": "whatsapp",
    }
    assert message.timestamp == datetime.fromtimestamp(1697043223, UTC)
    assert message.contact_name == "Test Name"
    assert message.user_id == "US.13491208655302741918"
    assert message.parent_user_id == "US.ENT.11815799212886844830"
    assert message.display_phone_number == "972123456789"
    assert message.business_account_id == "1234567890987654321"


def test_reply_and_forward_keep_their_context() -> None:
    reply = one_message("message.json", "reply").message
    assert reply["context"] == {"from": "972123456789", "id": "wamid.xyzxyz=="}
    assert one_message("message.json", "forwarded").message["context"] == {"forwarded": True}


def test_button_reply_input_is_the_title() -> None:
    message = one_message("callback_button.json", "button").message
    assert message["type"] == "interactive"
    assert message["interactive_type"] == "button_reply"
    assert (message["id"], message["title"], message["input"]) == (
        "callback_data",
        "title",
        "title",
    )
    assert message["context"]["id"] == "wamid.xyzxyz"


def test_list_reply_input_is_the_title() -> None:
    message = one_message("callback_selection.json", "description").message
    assert message["interactive_type"] == "list_reply"
    assert message["input"] == "title"
    assert message["description"] == "description"


def test_template_quick_reply_input_is_the_button_text() -> None:
    message = one_message("callback_button.json", "quick_reply").message
    assert message["type"] == "button"
    assert message["payload"] == "callback_data"
    assert message["input"] == "title"
    no_context = one_message("callback_button.json", "quick_reply_without_context")
    assert no_context.user_id == "US.13491208655302741918"
    assert "context" not in no_context.message


def test_media_input_is_the_caption_or_empty() -> None:
    video = one_message("message.json", "video").message
    assert video["type"] == "video"
    assert (video["media_id"], video["mime_type"]) == ("765756756", "video/mp4")
    assert video["caption"] == video["input"] == "caption"
    image = one_message("message.json", "image").message
    assert image["media_id"] == "65463453"
    assert image["input"] == ""
    assert one_message("message.json", "document").message["filename"] == "filename.pdf"
    assert one_message("message.json", "voice").message["voice"] is True
    assert one_message("message.json", "animated_sticker").message["animated"] is True
    assert one_message("message.json", "media_with_url").message["url"].startswith("https://")


def test_location_input_is_lat_lng() -> None:
    current = one_message("message.json", "current_location").message
    assert current["input"] == "12.25089,43.90539"
    assert (current["latitude"], current["longitude"]) == (12.25089, 43.90539)
    chosen = one_message("message.json", "chosen_location").message
    assert chosen["input"] == "37.4611978,-122.2164385"
    assert chosen["name"] == "Facebook HQ"
    assert chosen["address"].startswith("1 Hacker Way")


def test_reactions_and_their_removal() -> None:
    reaction = one_message("message.json", "reaction")
    assert reaction.message["emoji"] == "😮"
    assert reaction.message["reacted_message_id"] == "wamid.yzxyzx="
    assert reaction.message["removed"] is False
    assert not reaction.conversational
    for case in ("unreaction_empty", "unreaction_no_emoji"):
        removed = one_message("message.json", case).message
        assert removed["emoji"] == "" and removed["removed"] is True


def test_unsupported_keeps_meta_errors() -> None:
    message = one_message("message.json", "unsupported").message
    assert message["type"] == "unsupported"
    assert message["errors"][0]["code"] == 131051
    assert message["input"] == ""
    typed = one_message("message.json", "unsupported_with_type").message
    assert typed["unsupported_type"] == "pool"


def test_malformed_interactive_becomes_unsupported() -> None:
    parsed = parse_webhook(load_fixture_file("message.json")["interactive_message_with_err"])
    message = parsed.messages[0].message
    assert message["type"] == "unsupported"
    assert message["unsupported_type"] == "interactive"
    assert message["errors"][0]["code"] == 131000  # Meta's reason, beside the message
    assert parsed.errors[0].code == 131000
    assert parsed.errors[0].details == "Unsupported webhook payload"


def test_flow_completion_input_is_the_parsed_response() -> None:
    message = one_message("flow_completion.json", "completion").message
    assert message["interactive_type"] == "nfm_reply"
    assert message["response_json"]["delivery_rating"] == "4"
    assert message["input"] == message["response_json"]
    assert message["flow_token"] == "AQAAAAACS5FpgQ_cAAAAAD0QI3s."
    assert "flow_token" not in one_message("flow_completion.json", "without_flow_token").message


def test_contacts_order_referral_system() -> None:
    contacts = one_message("message.json", "contacts").message
    assert contacts["input"] == "Chandler Bing, Monica, Rachel Green"
    assert len(contacts["contacts"]) == 3
    order = one_message("message.json", "order").message
    assert order["catalog_id"] == "354160437058781"
    assert len(order["order"]["product_items"]) == 3
    referral = one_message("message.json", "referral").message
    assert referral["type"] == "text" and referral["referral"]["ctwa_clid"] == "CTWA_CLID"
    change = one_message("system.json", "phone_number_change")
    assert change.message["system_type"] == "user_changed_number"
    assert change.message["new_wa_id"] == "972912345678"
    assert not change.conversational
    identity = one_message("system.json", "identity_change").message
    assert identity["identity"]["acknowledged"] is True


def test_statuses() -> None:
    statuses = load_fixture_file("message_status.json")
    for name in ("sent", "delivered", "read", "played"):
        (status,) = parse_webhook(statuses[name]).statuses
        assert status.status == name
        assert status.wamid == "wamid.xyzxyz"
        assert status.recipient_id == "972987654321"
        assert status.timestamp is not None
    (failed,) = parse_webhook(statuses["failed"]).statuses
    assert failed.status == "failed"
    assert failed.errors[0]["code"] == 130472
    assert failed.errors[0]["details"].startswith("Failed to send message")
    assert failed.as_dict()["errors"] == failed.errors
    (tracked,) = parse_webhook(statuses["with_tracker"]).statuses
    assert tracked.biz_opaque_callback_data == "some data"
    assert tracked.as_dict() == {
        "wamid": "wamid.xyzxyz",
        "status": "sent",
        "timestamp": datetime.fromtimestamp(1698266945, UTC),
        "recipient_id": "972987654321",
        "biz_opaque_callback_data": "some data",
    }
    (group,) = parse_webhook(statuses["group"]).statuses
    assert group.recipient_type == "group"
    assert group.recipient_user_id == "US.123456"


def test_a_batch_yields_everything_in_order() -> None:
    text = load_fixture_file("message.json")["text"]
    status = load_fixture_file("message_status.json")["read"]
    batch = {
        "object": "whatsapp_business_account",
        "entry": text["entry"] + status["entry"] + text["entry"],
    }
    parsed = parse_webhook(batch)
    assert [m.type for m in parsed.messages] == ["text", "text"]
    assert [s.status for s in parsed.statuses] == ["read"]
    assert parsed.phone_number_ids == ["1122334455667"]


def test_odd_bodies_are_rejected_not_raised() -> None:
    assert parse_webhook(b"not json").rejected[0].reason == "the body is not a JSON object"
    no_number = {"entry": [{"changes": [{"field": "messages", "value": {"messages": [{}]}}]}]}
    assert "phone_number_id" in parse_webhook(no_number).rejected[0].reason
    other = {"entry": [{"id": "1", "changes": [{"field": "account_update", "value": {"x": 1}}]}]}
    assert parse_webhook(other).other_changes[0].field == "account_update"
    anonymous = {
        "entry": [
            {
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": "1"},
                            "messages": [{"type": "text", "text": {"body": "x"}}],
                        },
                    }
                ]
            }
        ]
    }
    assert parse_webhook(anonymous).rejected[0].reason == "a message without an id or a sender"
