"""Our channel-neutral messages -> Meta's /messages bodies (whatsapp-cloud-api.md §2.3)."""

from __future__ import annotations

from typing import Any

import pytest

from convoflow.channels.whatsapp.outbound import OutboundMessageError, build_message_body

TO = "15550001234"
COMMON = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO}


def body(message: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return build_message_body(message, to=TO, **kwargs)


def interactive(**config: Any) -> dict[str, Any]:
    return body({"type": "interactive", "interactive": config})["interactive"]  # type: ignore[no-any-return]


def test_text_with_tracker() -> None:
    built = body({"type": "text", "text": "Hello"}, biz_opaque_callback_data="exec-1")
    assert built == {
        **COMMON,
        "type": "text",
        "text": {"body": "Hello", "preview_url": False},
        "biz_opaque_callback_data": "exec-1",
    }


def test_text_previews_links() -> None:
    built = body({"type": "text", "text": "see https://example.com/x"})
    assert built["text"]["preview_url"] is True
    explicit = body({"type": "text", "text": {"body": "https://a.b", "preview_url": False}})
    assert explicit["text"] == {"body": "https://a.b", "preview_url": False}


def test_reply_context() -> None:
    built = body({"type": "text", "text": "hi", "context": {"message_id": "wamid.Q"}})
    assert built["context"] == {"message_id": "wamid.Q"}


def test_template_positional_object() -> None:
    message = {
        "type": "template",
        "template": {"id": "t1", "name": "order_update", "parameters": {"2": "42", "1": "Ana"}},
    }
    assert body(message) == {
        **COMMON,
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "42"}],
                }
            ],
        },
    }


def template(**fields: Any) -> dict[str, Any]:
    return body({"type": "template", "template": fields})["template"]  # type: ignore[no-any-return]


def test_template_forms() -> None:
    components = [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://i/x.png"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
        {
            "type": "button",
            "sub_type": "url",
            "index": 0,
            "parameters": [{"type": "text", "text": "a"}],
        },
    ]
    assert template(name="t", parameters=components)["components"] == components
    assert template(name="t", parameters={"components": components})["components"] == components
    assert template(name="t", components=components, parameters=["x"])["components"] == components
    listed = template(name="t", parameters=["Ana", 3])["components"]
    assert listed == [
        {
            "type": "body",
            "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "3"}],
        }
    ]
    named = template(name="t", parameters={"template_params": {"first_name": "Ana"}})
    assert named["components"][0]["parameters"] == [
        {"type": "text", "text": "Ana", "parameter_name": "first_name"}
    ]
    assert "components" not in template(name="hello_world", parameters=None)


def test_template_language_and_name() -> None:
    assert template(name="t", language="pt_BR")["language"] == {"code": "pt_BR"}
    assert template(name="t", language_code="es")["language"] == {"code": "es"}
    assert template(name="t", language={"code": "de", "policy": "deterministic"})["language"] == {
        "code": "de",
        "policy": "deterministic",
    }
    assert template(id="hello_world")["name"] == "hello_world"
    with pytest.raises(OutboundMessageError, match="name"):
        template(parameters=["x"])
    with pytest.raises(OutboundMessageError, match=r"parameters\.1 is empty"):
        template(name="t", parameters={"1": ""})


def test_buttons() -> None:
    built = interactive(
        interactive_type="button",
        header_type="text",
        header_text="Order",
        body_text="Confirm?",
        footer_text="Reply below",
        buttons=[{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}],
    )
    assert built == {
        "type": "button",
        "header": {"type": "text", "text": "Order"},
        "body": {"text": "Confirm?"},
        "footer": {"text": "Reply below"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                {"type": "reply", "reply": {"id": "no", "title": "No"}},
            ]
        },
    }


def test_media_header() -> None:
    built = interactive(
        interactive_type="button",
        header_type="image",
        header_media_url="https://x/y.png",
        body_text="b",
        buttons=[{"id": "a", "title": "A"}],
    )
    assert built["header"] == {"type": "image", "image": {"link": "https://x/y.png"}}


def test_list() -> None:
    built = interactive(
        interactive_type="list",
        body_text="Pick one",
        list_button_text="Menu",
        list_sections=[
            {"title": "Drinks", "rows": [{"id": "tea", "title": "Tea", "description": "hot"}]},
            {"title": "Food", "rows": [{"id": "pie", "title": "Pie"}]},
        ],
    )
    assert built == {
        "type": "list",
        "body": {"text": "Pick one"},
        "action": {
            "button": "Menu",
            "sections": [
                {"title": "Drinks", "rows": [{"id": "tea", "title": "Tea", "description": "hot"}]},
                {"title": "Food", "rows": [{"id": "pie", "title": "Pie"}]},
            ],
        },
    }


def test_cta_url_flow_location_request() -> None:
    cta = interactive(
        interactive_type="cta_url", body_text="b", cta_display_text="Open", cta_url="https://x.y"
    )
    assert cta["action"] == {
        "name": "cta_url",
        "parameters": {"display_text": "Open", "url": "https://x.y"},
    }
    flow = interactive(
        interactive_type="flow",
        body_text="b",
        flow_id="123",
        flow_cta="Start",
        flow_token="tok",
        flow_action="navigate",
        flow_action_payload={"screen": "S1", "data": {"a": 1}},
    )
    assert flow["action"] == {
        "name": "flow",
        "parameters": {
            "flow_message_version": "3",
            "flow_id": "123",
            "flow_cta": "Start",
            "flow_token": "tok",
            "flow_action": "navigate",
            "flow_action_payload": {"screen": "S1", "data": {"a": 1}},
        },
    }
    location = interactive(interactive_type="location_request_message", body_text="Where?")
    assert location == {
        "type": "location_request_message",
        "body": {"text": "Where?"},
        "action": {"name": "send_location"},
    }


def test_meta_shaped_interactive_passes_through() -> None:
    meta = {"type": "button", "body": {"text": "x"}, "action": {"buttons": []}}
    assert interactive(**meta) == meta


def test_media() -> None:
    image = body({"type": "image", "image": {"link": "https://x/a.png", "caption": "c"}})
    assert image == {
        **COMMON,
        "type": "image",
        "image": {"link": "https://x/a.png", "caption": "c"},
    }
    document = body({"type": "document", "media_id": "99", "filename": "a.pdf"})
    assert document["document"] == {"id": "99", "filename": "a.pdf"}
    assert body({"type": "audio", "audio": {"id": "7"}})["audio"] == {"id": "7"}
    assert body({"type": "video", "media_url": "https://v"})["video"] == {"link": "https://v"}
    with pytest.raises(OutboundMessageError, match="caption"):
        body({"type": "audio", "audio": {"id": "7", "caption": "no"}})
    with pytest.raises(OutboundMessageError, match="media id or a link"):
        body({"type": "image", "image": {}})


def test_location() -> None:
    built = body({"type": "location", "location": {"latitude": 1.5, "longitude": 2, "name": "X"}})
    assert built["location"] == {"latitude": 1.5, "longitude": 2.0, "name": "X"}


LIMITS = [
    ({"interactive_type": "button", "body_text": "b", "buttons": []}, "1 to 3 buttons"),
    (
        {
            "interactive_type": "button",
            "body_text": "b",
            "buttons": [{"id": str(i), "title": str(i)} for i in range(4)],
        },
        "1 to 3 buttons",
    ),
    (
        {
            "interactive_type": "button",
            "body_text": "b",
            "buttons": [{"id": "a", "title": "x" * 21}],
        },
        "21 characters; WhatsApp allows 20",
    ),
    (
        {
            "interactive_type": "button",
            "body_text": "b",
            "buttons": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}],
        },
        "used twice",
    ),
    (
        {"interactive_type": "button", "body_text": "", "buttons": [{"id": "a", "title": "A"}]},
        "body",
    ),
    (
        {
            "interactive_type": "button",
            "body_text": "x" * 1025,
            "buttons": [{"id": "a", "title": "A"}],
        },
        "WhatsApp allows 1024",
    ),
    (
        {
            "interactive_type": "list",
            "body_text": "b",
            "list_sections": [{"rows": [{"id": str(i), "title": "t"} for i in range(11)]}],
        },
        "1 to 10 rows",
    ),
    (
        {
            "interactive_type": "list",
            "body_text": "b",
            "list_sections": [
                {"rows": [{"id": "a", "title": "t"}]},
                {"rows": [{"id": "b", "title": "t"}]},
            ],
        },
        "needs a title",
    ),
    (
        {
            "interactive_type": "list",
            "body_text": "b",
            "list_sections": [{"rows": [{"id": "a", "title": "t", "description": "d" * 73}]}],
        },
        "allows 72",
    ),
    (
        {
            "interactive_type": "list",
            "header_type": "image",
            "header_media_url": "https://x",
            "body_text": "b",
            "list_sections": [{"rows": [{"id": "a", "title": "t"}]}],
        },
        "text header",
    ),
    (
        {
            "interactive_type": "cta_url",
            "body_text": "b",
            "cta_display_text": "Go",
            "cta_url": "ftp://x",
        },
        "https://",
    ),
    ({"interactive_type": "flow", "body_text": "b"}, "flow_id"),
    ({"interactive_type": "product", "body_text": "b"}, "cannot be sent"),
]


@pytest.mark.parametrize(("config", "match"), LIMITS)
def test_limits_raise_clear_errors(config: dict[str, Any], match: str) -> None:
    with pytest.raises(OutboundMessageError, match=match):
        interactive(**config)


def test_other_limits() -> None:
    with pytest.raises(OutboundMessageError, match="allows 4096"):
        body({"type": "text", "text": "x" * 4097})
    with pytest.raises(OutboundMessageError, match="non-empty"):
        body({"type": "text", "text": " "})
    with pytest.raises(OutboundMessageError, match="allows 512"):
        body({"type": "text", "text": "x"}, biz_opaque_callback_data="x" * 513)
    with pytest.raises(OutboundMessageError, match="cannot be sent on WhatsApp"):
        body({"type": "carrier_pigeon"})
