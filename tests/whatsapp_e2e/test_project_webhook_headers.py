"""A project webhook's custom headers (issue 8 item 4): stored as one Fernet token (the raw
column never holds a value in plaintext), read back with their names and masked values,
kept when an update sends a masked value back, and sent with their real values to a
receiver on loopback, on both databases."""

from __future__ import annotations

import sqlalchemy as sa

from convoflow.services.project_webhooks.management import MASKED_HEADER_VALUE
from tests.whatsapp.conftest import Receiver
from tests.whatsapp_e2e.conftest import P, World
from tests.whatsapp_e2e.test_secrets_at_rest import process_key

BEARER = "Bearer hdr-secret-7781"


async def _raw_headers(world: World, webhook_id: str) -> str | None:
    async with world.engine.db.engine.connect() as conn:
        query = sa.text("SELECT headers FROM whatsapp_webhooks WHERE id = :id")
        value = (await conn.execute(query, {"id": webhook_id})).scalar_one()
    return None if value is None else str(value)


async def _test_delivery(world: World, receiver: Receiver, webhook_id: str) -> dict[str, str]:
    before = len(receiver.hits)
    sent = await world.api.post(f"{P}/whatsapp/webhooks/{webhook_id}/test", json={})
    assert sent.status_code in (200, 202), sent.text
    await world.settle()
    assert len(receiver.hits) == before + 1
    return receiver.hits[-1].headers


async def test_headers_are_encrypted_masked_on_read_and_sent_for_real(
    world: World, receiver: Receiver
) -> None:
    headers = {"Authorization": BEARER, "X-Team": "ops-1"}
    body = {"url": receiver.url, "events": ["workflow.execution.failed"], "headers": headers}
    created = await world.api.post(f"{P}/whatsapp/webhooks", json={"whatsapp_webhook": body})
    assert created.status_code == 201, created.text
    hook = created.json()["data"]
    masked = {"Authorization": MASKED_HEADER_VALUE, "X-Team": MASKED_HEADER_VALUE}
    assert hook["headers"] == masked
    assert (await world.get(f"/whatsapp/webhooks/{hook['id']}"))["data"]["headers"] == masked
    assert (await world.get("/whatsapp/webhooks"))["data"][0]["headers"] == masked

    raw = await _raw_headers(world, hook["id"])
    assert raw is not None and raw.startswith("gAAAAA") and "hdr-secret" not in raw
    assert "ops-1" not in raw and "Authorization" not in raw  # names are hidden too
    assert process_key().decrypt(raw.encode()).decode() == (
        '{"Authorization": "Bearer hdr-secret-7781", "X-Team": "ops-1"}'
    )

    arrived = await _test_delivery(world, receiver, hook["id"])
    assert (arrived["authorization"], arrived["x-team"]) == (BEARER, "ops-1")

    # A client sending back what it read keeps the real value; a new value replaces it.
    patched = await world.api.patch(
        f"{P}/whatsapp/webhooks/{hook['id']}",
        json={"whatsapp_webhook": {"headers": {**masked, "X-Team": "ops-2"}}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["headers"] == masked
    arrived = await _test_delivery(world, receiver, hook["id"])
    assert (arrived["authorization"], arrived["x-team"]) == (BEARER, "ops-2")

    # Removing every header leaves no token behind.
    cleared = await world.api.patch(
        f"{P}/whatsapp/webhooks/{hook['id']}", json={"whatsapp_webhook": {"headers": {}}}
    )
    assert cleared.json()["data"]["headers"] == {}
    assert await _raw_headers(world, hook["id"]) is None
    assert "authorization" not in await _test_delivery(world, receiver, hook["id"])


async def test_a_new_url_needs_the_headers_again(world: World, receiver: Receiver) -> None:
    """Review item 2: a PATCH changing only `url` must not carry the stored (masked)
    credentials to the new URL; a masked value for a name never stored is refused."""
    body = {
        "url": receiver.url,
        "events": ["workflow.execution.failed"],
        "headers": {"Authorization": BEARER},
    }
    created = await world.api.post(f"{P}/whatsapp/webhooks", json={"whatsapp_webhook": body})
    hook_id = created.json()["data"]["id"]
    path = f"{P}/whatsapp/webhooks/{hook_id}"
    elsewhere = receiver.url + "?elsewhere=1"

    async def patch(fields: dict[str, object]) -> tuple[int, dict[str, object]]:
        response = await world.api.patch(path, json={"whatsapp_webhook": fields})
        return response.status_code, response.json()

    for refused in (
        {"url": elsewhere},
        {"url": elsewhere, "headers": {"Authorization": MASKED_HEADER_VALUE}},
        {"headers": {"authorization": BEARER, "X-New": MASKED_HEADER_VALUE}},
    ):
        status, answer = await patch(refused)
        assert status == 422, (refused, answer)
    assert (await world.get(f"/whatsapp/webhooks/{hook_id}"))["data"]["url"] == receiver.url
    arrived = await _test_delivery(world, receiver, hook_id)
    assert arrived["authorization"] == BEARER and "x-new" not in arrived

    # Same URL sent again is no change; a masked value matches its name whatever the case.
    status, _ = await patch({"url": receiver.url, "headers": {"AUTHORIZATION": "********"}})
    assert status == 200
    assert (await _test_delivery(world, receiver, hook_id))["authorization"] == BEARER

    status, answer = await patch({"url": elsewhere, "headers": {"Authorization": "Bearer new"}})
    assert status == 200, answer
    arrived = await _test_delivery(world, receiver, hook_id)
    assert arrived["authorization"] == "Bearer new"

    status, answer = await patch({"url": receiver.url, "headers": {}})
    assert status == 200 and answer["data"]["headers"] == {}  # type: ignore[index]
    assert "authorization" not in await _test_delivery(world, receiver, hook_id)
    # Without stored headers a URL change alone is fine.
    status, _ = await patch({"url": elsewhere})
    assert status == 200
