"""`/webhooks/whatsapp` under a flood of bad signatures, on SQLite and PostgreSQL: past
`CONVOFLOW_BAD_SIGNATURE_PER_MINUTE` failures an address gets 429 instead of 401/403;
other addresses are unaffected, and a validly signed webhook is never limited, even from
the flooding address."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from convoflow.api.app import create_app
from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.channels.whatsapp.signature import sign
from convoflow.config import Settings
from convoflow.fakes.graph.server import FakeGraph
from convoflow.store.schema import messages
from tests.whatsapp_e2e.conftest import APP_SECRET, NUMBER, World
from tests.whatsapp_e2e.helpers import rows

LIMIT = 3
FLOODER = "203.0.113.7"
BYSTANDER = "198.51.100.4"


@pytest.fixture
def settings(fake: tuple[FakeGraph, str]) -> Settings:
    return Settings(
        rate_limit_per_minute=1_000_000,
        start_burst_per_second=1_000_000,
        graph_base_url=f"{fake[1]}/v23.0",
        graph_conversation_interval_seconds=0.0,
        bad_signature_per_minute=LIMIT,
    )


@pytest.fixture
async def clients(world: World) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Two source addresses talking to one app (one set of counters)."""
    app = create_app(world.engine, run_worker=False)
    result = {}
    for address in (FLOODER, BYSTANDER):
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        result[address] = httpx.AsyncClient(transport=transport, base_url="http://meta")
    yield result
    for client in result.values():
        await client.aclose()


def _body(wamid: str) -> bytes:
    return bodies.encode(
        bodies.inbound_message_body(
            {"type": "text", "text": {"body": "hi"}},
            phone_number_id=NUMBER,
            wa_id="15550002222",
            wamid=wamid,
            timestamp=1700000000,
        )
    )


async def _post(client: httpx.AsyncClient, raw: bytes, secret: str | None) -> httpx.Response:
    headers = {}
    if secret is not None:
        headers = {"X-Hub-Signature-256": sign(secret, raw)}
    return await client.post("/webhooks/whatsapp", content=raw, headers=headers)


async def test_bad_signatures_are_limited_per_address_valid_ones_never(
    world: World, clients: dict[str, httpx.AsyncClient]
) -> None:
    flooder, bystander = clients[FLOODER], clients[BYSTANDER]
    for i in range(LIMIT):
        refused = await _post(flooder, _body(f"wamid.BAD{i}"), "wrong-secret" if i else None)
        assert refused.status_code == (403 if i else 401), refused.text
    limited = await _post(flooder, _body("wamid.BAD9"), "wrong-secret")
    assert limited.status_code == 429, limited.text
    assert limited.headers["retry-after"] == "60"
    assert "X-Hub-Signature-256" in limited.json()["error"]
    assert (await _post(flooder, _body("wamid.BAD10"), None)).status_code == 429

    valid = await _post(flooder, _body("wamid.GOOD1"), APP_SECRET)
    assert valid.status_code == 200, valid.text
    assert (await _post(bystander, _body("wamid.BAD11"), "wrong-secret")).status_code == 403
    assert (await _post(bystander, _body("wamid.GOOD2"), APP_SECRET)).status_code == 200
    stored = {row["provider_message_id"] for row in await rows(world, messages)}
    assert stored == {"wamid.GOOD1", "wamid.GOOD2"}
