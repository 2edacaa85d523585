"""`/webhooks/whatsapp`: every wa-fixtures case is accepted and stored as the parser
normalises it; unsigned or badly signed bodies are refused and leave no trace; Meta's
GET handshake; secrets are write-only."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from convoflow.api.app import create_app
from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.channels.whatsapp.inbound import parse_webhook
from convoflow.channels.whatsapp.signature import sign
from convoflow.store.schema import (
    conversations,
    message_statuses,
    messages,
    whatsapp_webhook_receipts,
)
from tests.whatsapp.conftest import all_cases
from tests.whatsapp_e2e.conftest import (
    ACCESS_TOKEN,
    APP_SECRET,
    NUMBER,
    VERIFY_TOKEN,
    P,
    World,
    add_number,
)
from tests.whatsapp_e2e.helpers import rows

CASES = all_cases()
FIXTURE_NUMBER = "1122334455667"  # the phone_number_id of the pywa fixtures
TABLES = (whatsapp_webhook_receipts, messages, message_statuses, conversations)


def unique(body: dict[str, Any], case: str) -> dict[str, Any]:
    """The fixtures reuse a few wamids across cases: make this case's ids its own."""
    body = copy.deepcopy(body)
    for entry in body["entry"]:
        for change in entry["changes"]:
            for item in change["value"].get("messages", []) + change["value"].get("statuses", []):
                item["id"] = f"{item['id']}.{case}"
    return body


@pytest.mark.parametrize(("file", "case", "body"), CASES, ids=[f"{f}:{c}" for f, c, _ in CASES])
async def test_every_fixture_is_accepted_and_stored(
    world: World, file: str, case: str, body: dict[str, Any]
) -> None:
    await add_number(world.engine, world.project_id, phone_number_id=FIXTURE_NUMBER)
    payload = unique(body, case)
    response = await world.post_webhook(payload)
    assert response.status_code == 200, response.text
    parsed = parse_webhook(bodies.encode(payload))
    (receipt,) = await rows(world, whatsapp_webhook_receipts)
    assert receipt["body"] == bodies.encode(payload)  # the raw bytes, as received
    for message in parsed.messages:
        (stored,) = await rows(world, messages, provider_message_id=message.wamid)
        assert stored["content"] == json.loads(json.dumps(message.message))
        assert stored["direction"] == "inbound"
        assert stored["message_type"] == message.type
        assert stored["routing"] == ("pending" if message.conversational else "ignored")
        (conversation,) = await rows(world, conversations, id=stored["conversation_id"])
        assert (conversation["phone_number_id"], conversation["wa_id"]) == (
            FIXTURE_NUMBER,
            message.wa_id,
        )
        assert conversation["contact_name"] == message.contact_name
    for status in parsed.statuses:
        known = status.phone_number_id == FIXTURE_NUMBER
        stored_statuses = await rows(world, message_statuses, provider_message_id=status.wamid)
        assert [s["status"] for s in stored_statuses] == ([status.status] if known else [])
    # Meta redelivers: the same body again changes nothing.
    again = await world.post_webhook(payload)
    assert again.status_code == 200
    counts = again.json()["data"]
    assert counts["messages"] == counts["statuses"] == 0
    assert len(await rows(world, messages)) == len(parsed.messages)


async def test_the_raw_fixture_bytes_are_all_accepted(world: World) -> None:
    """Unmodified bodies, duplicates across cases included: never a 5xx."""
    await add_number(world.engine, world.project_id, phone_number_id=FIXTURE_NUMBER)
    for _file, _case, body in CASES:
        response = await world.post_webhook(body)
        assert response.status_code == 200, response.text
    wamids = {m.wamid for _f, _c, b in CASES for m in parse_webhook(bodies.encode(b)).messages}
    assert {r["provider_message_id"] for r in await rows(world, messages)} == wamids


async def _nothing_stored(world: World) -> None:
    for table in TABLES:
        assert await rows(world, table) == [], table.name


async def test_unsigned_and_badly_signed_bodies_are_refused(world: World) -> None:
    payload = bodies.inbound_message_body(
        {"type": "text", "text": {"body": "hi"}},
        phone_number_id=NUMBER, wa_id="15550002222", wamid="wamid.SIG1", timestamp=1700000000,
    )  # fmt: skip
    raw = bodies.encode(payload)
    unsigned = await world.api.post("/webhooks/whatsapp", content=raw)
    assert unsigned.status_code == 401
    assert "X-Hub-Signature-256" in unsigned.json()["error"]
    wrong = await world.post_webhook(payload, secret="not-the-app-secret")
    assert wrong.status_code == 403
    assert "does not match" in wrong.json()["error"]
    tampered = raw.replace(b"hi", b"ho")
    headers = {"X-Hub-Signature-256": bodies.signed(payload, APP_SECRET)[1]["X-Hub-Signature-256"]}
    assert (
        await world.api.post("/webhooks/whatsapp", content=tampered, headers=headers)
    ).status_code == 403
    garbage = await world.api.post(
        "/webhooks/whatsapp", content=b"not json", headers={"X-Hub-Signature-256": "sha256=00"}
    )
    assert garbage.status_code == 403
    await _nothing_stored(world)


async def test_a_signed_body_that_is_not_json_is_acknowledged(world: World) -> None:
    raw = b"\x00\xffnot json at all"
    headers = {"X-Hub-Signature-256": sign(APP_SECRET, raw)}
    response = await world.api.post("/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 200  # authentic but useless: stored, nothing else
    assert [r["body"] for r in await rows(world, whatsapp_webhook_receipts)] == [raw]
    assert await rows(world, messages) == []


async def test_the_direct_lane_answers_as_the_app_does(world: World) -> None:
    """`POST /webhooks/whatsapp` is served by `ConvoflowApi`'s direct lane, past Starlette's
    middleware and router; with a query string the app's own route answers. Both give the
    same statuses and bodies: stored, unsigned, wrong signature, too large."""

    def text(wamid: str) -> dict[str, Any]:
        return bodies.inbound_message_body(
            {"type": "text", "text": {"body": "hi"}},
            phone_number_id=NUMBER, wa_id="15550002222", wamid=wamid, timestamp=1700000000,
        )  # fmt: skip

    answers = []
    for path in ("/webhooks/whatsapp", "/webhooks/whatsapp?via=app"):
        raw, headers = bodies.signed(text(f"wamid.LANE.{path}"), APP_SECRET)
        stored = await world.api.post(path, content=raw, headers=headers)
        unsigned = await world.api.post(path, content=raw)
        wrong = await world.api.post(path, content=raw, headers={**headers, **{
            "X-Hub-Signature-256": sign("not-the-secret", raw)}})  # fmt: skip
        large = await world.api.post(
            path, content=b" " * 3_000_001, headers={"Content-Type": "application/json"}
        )
        answers.append(
            [
                (r.status_code, r.headers["content-type"], r.json())
                for r in (stored, unsigned, wrong, large)
            ]
        )
    assert answers[0] == answers[1]
    assert [status for status, _type, _body in answers[0]] == [200, 401, 403, 413]
    assert answers[0][0][2]["data"]["messages"] == 1
    assert len(await rows(world, messages)) == 2


async def test_the_direct_lane_skips_the_middleware_stack(world: World) -> None:
    app = create_app(world.engine, run_worker=False)

    async def stack(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError(f"{scope['method']} {scope['path']} went through the stack")

    app.middleware_stack = stack
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://meta") as meta:
        raw, headers = bodies.signed(
            bodies.inbound_message_body(
                {"type": "text", "text": {"body": "hi"}}, phone_number_id=NUMBER,
                wa_id="15550002222", wamid="wamid.DIRECT", timestamp=1700000000,
            ), APP_SECRET,
        )  # fmt: skip
        response = await meta.post("/webhooks/whatsapp", content=raw, headers=headers)
        assert response.status_code == 200, response.text
        with pytest.raises(AssertionError, match="went through the stack"):
            await meta.post("/webhooks/whatsapp?x=1", content=raw, headers=headers)
    assert [r["provider_message_id"] for r in await rows(world, messages)] == ["wamid.DIRECT"]


async def test_get_challenge(world: World) -> None:
    params = {
        "hub.mode": "subscribe",
        "hub.challenge": "1158201444",
        "hub.verify_token": VERIFY_TOKEN,
    }
    response = await world.api.get("/webhooks/whatsapp", params=params)
    assert (response.status_code, response.text) == (200, "1158201444")
    number = await world.get(f"/whatsapp/phone_numbers/{NUMBER}")
    assert number["data"]["webhook_verified_at"] is not None
    for bad in ({**params, "hub.verify_token": "nope"}, {**params, "hub.mode": "unsubscribe"}, {}):
        assert (await world.api.get("/webhooks/whatsapp", params=bad)).status_code == 403


async def test_phone_number_secrets_are_write_only(world: World) -> None:
    secrets = ("EAAG-api-token-xyz", "api-app-secret-xyz", "api-verify-xyz")
    body = {
        "whatsapp_phone_number": {
            "name": "Sales",
            "phone_number_id": "200000000000002",
            "business_account_id": "300000000000003",
            "display_phone_number": "+1 555 010 0002",
            "access_token": secrets[0],
            "app_secret": secrets[1],
            "webhook_verify_token": secrets[2],
        }
    }
    with capture_logs() as logs:
        created = await world.api.post(f"{P}/whatsapp/phone_numbers", json=body)
        listed = await world.api.get(f"{P}/whatsapp/phone_numbers")
        one = await world.api.get(f"{P}/whatsapp/phone_numbers/200000000000002")
        patched = await world.api.patch(
            f"{P}/whatsapp/phone_numbers/200000000000002",
            json={"whatsapp_phone_number": {"access_token": "EAAG-rotated-xyz"}},
        )
        duplicate = await world.api.post(f"{P}/whatsapp/phone_numbers", json=body)
    assert created.status_code == 201, created.text
    view = created.json()["data"]
    assert view["id"] == view["phone_number_id"] == "200000000000002"
    # Connecting read the number from the Graph API (the fake's answer wins over the body).
    assert view["display_phone_number_normalized"] == "15550000002"
    assert (view["verified_name"], view["quality_rating"]) == ("Fake Business", "GREEN")
    assert listed.json()["meta"]["total_count"] == 2 and listed.headers["X-Total"] == "2"
    assert duplicate.status_code == 409
    everything = [created.text, listed.text, one.text, patched.text, duplicate.text, repr(logs)]
    for secret in (*secrets, "EAAG-rotated-xyz", ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN):
        assert all(secret not in text for text in everything), secret
    missing = await world.api.post(
        f"{P}/whatsapp/phone_numbers",
        json={"whatsapp_phone_number": {"phone_number_id": "4", "name": "x"}},
    )
    assert missing.status_code == 422 and "access_token" in missing.text
