"""The WhatsApp platform routes answer in the shapes Kapso's `openapi-platform.yaml`
documents (src/convoflow/api/kapso_openapi), on SQLite and PostgreSQL: phone numbers,
conversations (one started by the API, which has no inbound message yet, and one the
user wrote to), messages, project webhooks, a test delivery and the delivery log."""

from __future__ import annotations

from tests.api.contract import assert_operation
from tests.whatsapp_e2e.conftest import NUMBER, USER, P, World
from tests.whatsapp_e2e.helpers import echo_start, inbound_flow

OTHER_USER = "15550009999"


async def test_whatsapp_routes_match_kapsos_platform_schemas(world: World) -> None:
    numbers = await world.get("/whatsapp/phone_numbers")
    assert_operation(numbers, "GET", "/whatsapp/phone_numbers")
    assert_operation(
        await world.get(f"/whatsapp/phone_numbers/{NUMBER}"),
        "GET",
        "/whatsapp/phone_numbers/{phone_number_id}",
    )

    # An API start makes a conversation the user has not written to yet.
    workflow_id = await inbound_flow(world, echo_start(), trigger={"trigger_type": "api_call"})
    started = await world.api.post(
        f"{P}/workflows/{workflow_id}/executions",
        json={"workflow_execution": {"phone_number": f"+{OTHER_USER}"}},
    )
    assert started.status_code == 202, started.text
    await world.settle()
    await world.say("hello", user=USER)
    await world.settle()

    listed = await world.get("/whatsapp/conversations")
    assert_operation(listed, "GET", "/whatsapp/conversations")
    assert len(listed["data"]) == 2
    for conversation in listed["data"]:
        one = await world.get(f"/whatsapp/conversations/{conversation['id']}")
        assert_operation(one, "GET", "/whatsapp/conversations/{conversation_id}")

    messages = await world.get("/whatsapp/messages", phone_number_id=NUMBER)
    assert_operation(messages, "GET", "/whatsapp/messages")
    assert messages["data"]
    wamid = messages["data"][0]["id"]
    message = await world.get(f"/whatsapp/messages/{wamid}")
    assert_operation(message, "GET", "/whatsapp/messages/{message_id}")


async def test_webhook_routes_match_kapsos_platform_schemas(world: World) -> None:
    created = await world.api.post(
        f"{P}/whatsapp/webhooks",
        json={
            "whatsapp_webhook": {
                "url": f"{world.url}/healthz",
                "events": ["whatsapp.message.received"],
                "secret_key": "s3cret",
            }
        },
    )
    assert created.status_code == 201, created.text
    assert_operation(created.json(), "POST", "/whatsapp/webhooks", 201)
    webhook_id = created.json()["data"]["id"]
    assert_operation(await world.get("/whatsapp/webhooks"), "GET", "/whatsapp/webhooks")
    assert_operation(
        await world.get(f"/whatsapp/webhooks/{webhook_id}"),
        "GET",
        "/whatsapp/webhooks/{webhook_id}",
    )
    tested = await world.api.post(f"{P}/whatsapp/webhooks/{webhook_id}/test", json={})
    assert tested.status_code == 200, tested.text
    assert_operation(tested.json(), "POST", "/whatsapp/webhooks/{webhook_id}/test")
    await world.settle()
    deliveries = await world.get("/webhook_deliveries")
    assert deliveries["data"], "the test delivery is logged"
    assert_operation(deliveries, "GET", "/webhook_deliveries")


async def test_writes_answer_kapsos_platform_schemas(world: World) -> None:
    """Connecting and updating a number (Kapso connects under a customer; same body), ending
    a conversation and updating a webhook answer what Kapso documents for them."""
    body = {
        "whatsapp_phone_number": {
            "name": "Sales",
            "phone_number_id": "200000000000002",
            "business_account_id": "300000000000003",
            "access_token": "EAAG-contract",
        }
    }
    created = await world.api.post(f"{P}/whatsapp/phone_numbers", json=body)
    assert created.status_code == 201, created.text
    assert_operation(created.json(), "POST", "/customers/{customer_id}/whatsapp/phone_numbers", 201)
    patched = await world.api.patch(
        f"{P}/whatsapp/phone_numbers/200000000000002",
        json={"whatsapp_phone_number": {"name": "Sales desk"}},
    )
    assert patched.status_code == 200, patched.text
    assert_operation(patched.json(), "PATCH", "/whatsapp/phone_numbers/{phone_number_id}")

    await world.say("hello", user=USER)
    await world.settle()
    (conversation,) = (await world.get("/whatsapp/conversations"))["data"]
    ended = await world.api.patch(
        f"{P}/whatsapp/conversations/{conversation['id']}",
        json={"whatsapp_conversation": {"status": "ended"}},
    )
    assert ended.status_code == 200, ended.text
    assert_operation(ended.json(), "PATCH", "/whatsapp/conversations/{conversation_id}")

    webhook = await world.api.post(
        f"{P}/whatsapp/webhooks",
        json={"whatsapp_webhook": {"url": f"{world.url}/healthz", "events": ["project.event"]}},
    )
    assert webhook.status_code == 201, webhook.text
    updated = await world.api.patch(
        f"{P}/whatsapp/webhooks/{webhook.json()['data']['id']}",
        json={"whatsapp_webhook": {"active": False}},
    )
    assert updated.status_code == 200, updated.text
    assert_operation(updated.json(), "PATCH", "/whatsapp/webhooks/{webhook_id}")
