"""A whole conversation over real HTTP on loopback, on SQLite and PostgreSQL: a simulated
user writes through the fake Graph API (signed webhook), the flow sends buttons, waits,
decides, calls a webhook and answers; the sends are observed at the fake Graph, their
statuses come back as webhooks, and the API lists the conversation and its messages."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from convoflow.store.schema import messages, webhook_deliveries
from tests.support import edge, node
from tests.whatsapp.conftest import Receiver
from tests.whatsapp_e2e.conftest import NUMBER, USER, P, World
from tests.whatsapp_e2e.helpers import inbound_flow, rows, sent_texts

EVENTS = [
    "whatsapp.conversation.created",
    "whatsapp.message.received",
    "whatsapp.message.sent",
    "whatsapp.message.delivered",
    "whatsapp.message.read",
    "workflow.execution.handoff",
    "workflow.execution.failed",
]


def newsletter(hook_url: str) -> dict[str, Any]:
    nodes = [
        node("start", "start"),
        node(
            "ask",
            "send_interactive",
            interactive_type="button",
            body_text="Hi {{context.contact.name}}! Want our newsletter?",
            buttons=[{"id": "yes", "title": "Yes please"}, {"id": "no", "title": "No thanks"}],
        ),
        node("wait", "wait_for_response", save_response_to="choice"),
        node(
            "decide",
            "decide",
            decision_type="rules",
            conditions=[
                {"label": "yes", "expression": "vars.last_user_message.id == 'yes'"},
                {"label": "no"},
            ],
        ),
        node(
            "subscribe",
            "webhook",
            url=hook_url,
            body_template={"phone": "{{context.phone_number}}", "choice": "{{vars.choice}}"},
            save_response_to="crm",
        ),
        node("thanks", "send_text", message="Subscribed, {{vars.choice}}!"),
        node("later", "send_text", message="OK, maybe later."),
    ]
    edges = [
        edge("start", "ask"),
        edge("ask", "wait"),
        edge("wait", "decide"),
        edge("decide", "subscribe", "yes"),
        edge("decide", "later", "no"),
        edge("subscribe", "thanks"),
    ]
    return {"nodes": nodes, "edges": edges}


async def test_whole_conversation(world: World, receiver: Receiver) -> None:
    workflow_id = await inbound_flow(world, newsletter(receiver.url))
    hook = await world.api.post(
        f"{P}/whatsapp/webhooks",
        json={"whatsapp_webhook": {"url": receiver.url, "events": EVENTS, "secret_key": "whsec"}},
    )
    assert hook.status_code == 201, hook.text

    first = await world.say("hello")
    await world.settle()
    (buttons,) = world.fake.records(kind="message", type="interactive", to=USER)
    interactive = buttons["body"]["interactive"]
    assert interactive["body"]["text"] == "Hi Ana! Want our newsletter?"
    assert [b["reply"]["id"] for b in interactive["action"]["buttons"]] == ["yes", "no"]
    # Read receipt + typing indicator for the user's message, as the workflow's mode says.
    (typing,) = world.fake.records(kind="typing")
    assert typing["wamid_read"] == first

    await world.say(button_reply={"id": "yes", "title": "Yes please"}, context_id=buttons["wamid"])
    await world.settle()
    assert sent_texts(world, USER) == ["Subscribed, Yes please!"]
    crm_calls = [h for h in receiver.hits if h.headers.get("x-webhook-event") is None]
    assert json.loads(crm_calls[0].body) == {"phone": f"+{USER}", "choice": "Yes please"}

    # The API: one conversation with its summary, four messages, statuses applied.
    conversations = await world.get("/whatsapp/conversations", phone_number_id=NUMBER)
    (conversation,) = conversations["data"]
    assert conversation["phone_number"] == USER and conversation["status"] == "active"
    kapso = conversation["kapso"]
    assert kapso["contact_name"] == "Ana" and kapso["messages_count"] == 4
    assert kapso["last_message_text"] == "Subscribed, Yes please!"
    assert kapso["last_message_type"] == "text"
    listed = await world.get("/whatsapp/messages", conversation_id=conversation["id"])
    assert [(m["kapso"]["direction"], m["type"]) for m in listed["data"]] == [
        ("outbound", "text"),
        ("inbound", "interactive"),
        ("outbound", "interactive"),
        ("inbound", "text"),
    ]
    assert listed["data"][1]["interactive"]["button_reply"] == {"id": "yes", "title": "Yes please"}
    assert listed["data"][3]["text"] == {"body": "hello"} and listed["data"][3]["from"] == USER
    assert all(m["kapso"]["status"] == "read" for m in listed["data"] if m["to"] == USER)
    detail = await world.get(f"/whatsapp/messages/{buttons['wamid']}")
    assert [s["status"] for s in detail["data"]["kapso"]["statuses"]] == [
        "sent",
        "delivered",
        "read",
    ]
    outbound = await world.get("/whatsapp/messages", direction="outbound", status="read")
    assert len(outbound["data"]) == 2
    page = await world.get("/whatsapp/messages", limit=1)
    assert page["paging"]["next"] is not None and len(page["data"]) == 1

    executions = await world.get(f"/workflows/{workflow_id}/executions")
    (execution,) = executions["data"]
    assert execution["status"] == "ended"
    assert execution["whatsapp_conversation_id"] == conversation["id"]

    # Project webhook deliveries: signed, one per event, logged.
    deliveries = await rows(world, webhook_deliveries)
    assert {d["status"] for d in deliveries} == {"delivered"}
    events = [h for h in receiver.hits if h.headers.get("x-webhook-event")]
    for hit in events:
        expected = hmac.new(b"whsec", hit.body, hashlib.sha256).hexdigest()
        assert hit.headers["x-webhook-signature"] == expected
        assert hit.headers["x-idempotency-key"]
    names = sorted(h.headers["x-webhook-event"] for h in events)
    assert names.count("whatsapp.message.received") == 2
    assert names.count("whatsapp.conversation.created") == 1
    assert names.count("whatsapp.message.read") == 2
    received = [
        json.loads(h.body) for h in events if h.headers["x-webhook-event"].endswith("received")
    ]
    assert received[0]["message"]["text"] == {"body": "hello"}
    assert received[0]["conversation"]["id"] == conversation["id"]
    log = await world.get("/webhook_deliveries", event="whatsapp.message.received")
    assert len(log["data"]) == 2 and log["data"][0]["status"] == "delivered"
    assert len(await rows(world, messages)) == 4
