"""Client, channel and the fake Graph API over real HTTP on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from convoflow.channels.base import Delivery
from convoflow.channels.whatsapp.channel import (
    PhoneCredentials,
    Tracker,
    WhatsAppChannel,
    parse_tracker,
)
from convoflow.channels.whatsapp.client import GraphClient
from convoflow.channels.whatsapp.errors import GraphError
from convoflow.channels.whatsapp.inbound import parse_webhook
from convoflow.channels.whatsapp.signature import SignatureCheck, check_signature
from convoflow.cli.app import app as cli_app
from tests.whatsapp.conftest import APP_SECRET, FakeServer, Receiver

NUMBER = "100000000000001"
USER = "15550001"
TOKEN = "EAAG-test-token"
CREDENTIALS = PhoneCredentials(
    phone_number_id=NUMBER,
    access_token=TOKEN,
    app_secret=APP_SECRET,
    verify_token="verify",
    display_phone_number="15550000000",
    business_account_id="waba-1",
    project_id="project-1",
)


async def lookup(phone_number_id: str) -> PhoneCredentials | None:
    return CREDENTIALS if phone_number_id == NUMBER else None


@pytest.fixture
async def client(fake_server: FakeServer) -> AsyncIterator[GraphClient]:
    graph = GraphClient(base_url=fake_server.graph_base_url, conversation_interval=0)
    try:
        yield graph
    finally:
        await graph.aclose()


def delivery(message: dict[str, Any], *, attempts: int = 1, **conversation: Any) -> Delivery:
    outbox = {
        "id": "outbox-1",
        "project_id": "project-1",
        "execution_id": "exec-42",
        "conversation_id": "conv-1",
        "channel": "whatsapp",
        "idempotency_key": "k",
        "message": message,
        "attempts": attempts,
    }
    row = {"id": "conv-1", "phone_number_id": NUMBER, "wa_id": USER, **conversation}
    return Delivery(outbox, row)  # type: ignore[arg-type]


async def test_send_is_recorded_at_the_fake(client: GraphClient, fake_server: FakeServer) -> None:
    body = {"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "hi"}}
    wamid = await client.send_message(NUMBER, TOKEN, body)
    assert wamid.startswith("wamid.")
    (record,) = fake_server.fake.records(to=USER)
    assert record["body"] == body
    assert record["wamid"] == wamid
    assert record["version"] == "v23.0"
    assert record["phone_number_id"] == NUMBER
    assert TOKEN not in str(record)  # only a fingerprint of the token is kept
    async with httpx.AsyncClient() as http:
        listed = (await http.get(f"{fake_server.url}/_fake/sent", params={"to": USER})).json()
        assert [r["wamid"] for r in listed["data"]] == [wamid]
        await http.delete(f"{fake_server.url}/_fake/sent")
    assert fake_server.fake.sent == []


async def test_channel_sends_through_the_fake(client: GraphClient, fake_server: FakeServer) -> None:
    channel = WhatsAppChannel(client, lookup)
    buttons = {
        "interactive_type": "button",
        "body_text": "Continue?",
        "buttons": [{"id": "yes", "title": "Yes"}],
    }
    result = await channel.send(delivery({"type": "interactive", "interactive": buttons}))
    assert result.status == "sent"
    (record,) = fake_server.fake.records(kind="message")
    assert record["wamid"] == result.provider_message_id
    assert record["body"]["interactive"]["action"]["buttons"][0]["reply"]["id"] == "yes"
    # The outbox key (a crash can be settled by a status) and the execution id.
    tracker = parse_tracker(record["body"]["biz_opaque_callback_data"])
    assert tracker == Tracker(execution_id="exec-42", outbox_key="k")
    assert record["to"] == USER


async def test_forced_131047_is_terminal_with_the_template_advice(
    client: GraphClient, fake_server: FakeServer
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{fake_server.url}/_fake/errors", json={"to": USER, "code": 131047, "count": 1}
        )
        assert response.status_code == 201
    channel = WhatsAppChannel(client, lookup)
    result = await channel.send(delivery({"type": "text", "text": "are you there?"}))
    assert result.status == "failed"
    assert result.fail_execution is True
    assert result.error is not None and result.error["code"] == 131047
    assert "24 hours" in result.error["message"] and "template" in result.error["message"]
    # One send consumed the forced error: the next goes through.
    assert (await channel.send(delivery({"type": "text", "text": "again"}))).status == "sent"


async def test_forced_130429_is_retried(client: GraphClient, fake_server: FakeServer) -> None:
    fake_server.fake.force_error(130429, to=USER, count=2)
    channel = WhatsAppChannel(client, lookup)
    for _ in range(2):
        result = await channel.send(delivery({"type": "text", "text": "hi"}))
        assert result.status == "retry"
        assert result.retry_after_seconds is not None and result.retry_after_seconds > 0
    assert [r["http_status"] for r in fake_server.fake.records(to=USER)] == [429, 429]
    fake_server.fake.force_error(131026, to=USER)
    body = {"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "x"}}
    with pytest.raises(GraphError) as raised:
        await client.send_message(NUMBER, TOKEN, body)
    assert raised.value.code == 131026
    assert TOKEN not in str(raised.value)


async def test_unknown_number_and_bad_message_fail_clearly(client: GraphClient) -> None:
    channel = WhatsAppChannel(client, lookup)
    unknown = await channel.send(delivery({"type": "text", "text": "x"}, phone_number_id="999"))
    assert unknown.status == "failed" and unknown.error is not None
    assert "999 is not configured" in unknown.error["message"]
    overridden = {"type": "text", "text": "x", "from": {"phone_number_id": "777"}}
    assert "777" in (await channel.send(delivery(overridden))).error["message"]  # type: ignore[index]
    bad = await channel.send(delivery({"type": "interactive", "interactive": {"body_text": "x"}}))
    assert bad.status == "failed" and bad.error is not None
    assert bad.error["code"] == "invalid_message"


async def test_to_override_is_normalised(client: GraphClient, fake_server: FakeServer) -> None:
    channel = WhatsAppChannel(client, lookup)
    message = {"type": "text", "text": "x", "to": {"phone_number": "+1 (555) 000-9999"}}
    assert (await channel.send(delivery(message))).status == "sent"
    assert fake_server.fake.records()[0]["to"] == "15550009999"


async def test_status_webhooks_arrive_signed(
    client: GraphClient, fake_server: FakeServer, receiver: Receiver
) -> None:
    channel = WhatsAppChannel(client, lookup)
    result = await channel.send(delivery({"type": "text", "text": "hi"}))
    hits = await receiver.wait_for(3)
    statuses = []
    for hit in hits:
        header = hit.headers.get("x-hub-signature-256")
        assert check_signature(hit.body, header, APP_SECRET) is SignatureCheck.VALID
        assert check_signature(hit.body, header, "wrong") is SignatureCheck.MISMATCH
        (status,) = parse_webhook(hit.body).statuses
        assert status.wamid == result.provider_message_id
        assert parse_tracker(status.biz_opaque_callback_data).outbox_key == "k"
        assert status.recipient_id == USER
        statuses.append(status.status)
    assert statuses == ["sent", "delivered", "read"]


async def test_async_failure_arrives_as_a_failed_status(
    client: GraphClient, fake_server: FakeServer, receiver: Receiver
) -> None:
    fake_server.fake.force_error(131047, to=USER, mode="async")
    channel = WhatsAppChannel(client, lookup)
    assert (await channel.send(delivery({"type": "text", "text": "hi"}))).status == "sent"
    (hit,) = await receiver.wait_for(1)
    (status,) = parse_webhook(hit.body).statuses
    assert status.status == "failed"
    assert status.errors[0]["code"] == 131047


async def test_statuses_can_be_disabled(
    client: GraphClient, fake_server: FakeServer, receiver: Receiver
) -> None:
    async with httpx.AsyncClient() as http:
        config = await http.post(f"{fake_server.url}/_fake/config", json={"statuses": []})
        assert config.json()["data"]["app_secret"] is None  # never echoed
    body = {"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "x"}}
    await client.send_message(NUMBER, TOKEN, body)
    await fake_server.fake.settle()
    assert receiver.hits == []


async def test_mark_read_and_typing(client: GraphClient, fake_server: FakeServer) -> None:
    await client.mark_read(NUMBER, TOKEN, "wamid.IN1")
    await client.mark_read(NUMBER, TOKEN, "wamid.IN2", typing=True)
    kinds = [(r["kind"], r["wamid_read"]) for r in fake_server.fake.sent]
    assert kinds == [("read", "wamid.IN1"), ("typing", "wamid.IN2")]
    assert fake_server.fake.sent[1]["body"]["typing_indicator"] == {"type": "text"}


async def test_missing_token_and_bad_bodies_answer_meta_errors(fake_server: FakeServer) -> None:
    url = f"{fake_server.graph_base_url}/{NUMBER}/messages"
    body = {"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "x"}}
    async with httpx.AsyncClient() as http:
        unauthorised = await http.post(url, json=body)
        assert unauthorised.status_code == 401
        assert unauthorised.json()["error"]["code"] == 190
        headers = {"Authorization": f"Bearer {TOKEN}"}
        no_type = await http.post(url, json={**body, "text": None}, headers=headers)
        assert no_type.json()["error"]["code"] == 131008
        not_whatsapp = await http.post(url, json={"to": USER}, headers=headers)
        assert not_whatsapp.json()["error"]["code"] == 100


async def test_simulated_user_message_is_accepted_by_our_parser(
    fake_server: FakeServer, receiver: Receiver
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{fake_server.url}/_fake/inbound",
            json={"from": USER, "name": "Ana", "button_reply": {"id": "yes", "title": "Yes"}},
        )
    data = response.json()["data"]
    assert data["webhook_status"] == 200
    (hit,) = receiver.hits
    assert check_signature(hit.body, hit.headers["x-hub-signature-256"], APP_SECRET) is (
        SignatureCheck.VALID
    )
    (message,) = parse_webhook(hit.body).messages
    assert message.wamid == data["wamid"]
    assert (message.wa_id, message.phone_number_id, message.contact_name) == (USER, NUMBER, "Ana")
    assert message.message["interactive_type"] == "button_reply"
    assert message.input == "Yes"


@pytest.mark.parametrize(
    ("request_fields", "expected_input"),
    [
        ({"text": "hello"}, "hello"),
        ({"list_reply": {"id": "r1", "title": "Row one"}}, "Row one"),
        ({"quick_reply": {"payload": "p", "text": "Stop"}}, "Stop"),
        ({"location": {"latitude": 1.5, "longitude": -2.25}}, "1.5,-2.25"),
        ({"media": {"type": "image", "caption": "look"}}, "look"),
        ({"flow_reply": {"response_json": {"a": 1}}}, {"a": 1}),
        ({"reaction": {"message_id": "wamid.X", "emoji": "👍"}}, "👍"),
    ],
)
async def test_simulated_kinds(
    fake_server: FakeServer, receiver: Receiver, request_fields: dict[str, Any], expected_input: Any
) -> None:
    result = await fake_server.fake.simulate_inbound({"from": USER, **request_fields})
    assert result["webhook_status"] == 200
    (message,) = parse_webhook(receiver.hits[0].body).messages
    assert message.input == expected_input


async def test_redelivery_and_unsigned_inbound(fake_server: FakeServer, receiver: Receiver) -> None:
    result = await fake_server.fake.simulate_inbound(
        {"from": USER, "text": "x", "wamid": "wamid.DUP", "repeat": 3, "sign": False}
    )
    assert result["wamid"] == "wamid.DUP"
    assert len(receiver.hits) == 3
    assert all("x-hub-signature-256" not in hit.headers for hit in receiver.hits)


async def test_cli_say(fake_server: FakeServer, receiver: Receiver) -> None:
    runner = CliRunner()
    args = ["fake-meta", "say", "--from", USER, "--text", "hi from the CLI"]
    result = await asyncio.to_thread(runner.invoke, cli_app, [*args, "--fake-url", fake_server.url])
    assert result.exit_code == 0, result.output
    assert '"webhook_status": 200' in result.output
    (message,) = parse_webhook(receiver.hits[0].body).messages
    assert message.input == "hi from the CLI"


async def test_unreachable_graph_is_retryable() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    graph = GraphClient(base_url=f"http://127.0.0.1:{port}/v23.0")
    try:
        channel = WhatsAppChannel(graph, lookup)
        result = await channel.send(delivery({"type": "text", "text": "x"}))
    finally:
        await graph.aclose()
    assert result.status == "retry"
    assert result.error is not None and "could not reach" in result.error["message"]
