"""The numbers' in-process cache (services/whatsapp/directory.py) as another process sees
them: a number added by one process sends at once from another, named by our id of it
(a send node's `whatsapp_config_id`), without waiting for that process's cached list of
every number to expire."""

from __future__ import annotations

from convoflow.services.whatsapp.directory import WhatsAppDirectory
from tests.whatsapp_e2e.conftest import NUMBER, World, add_number


async def test_a_number_added_elsewhere_is_found_by_its_id_at_once(world: World) -> None:
    # Another process's directory (a worker's), with a long TTL so that nothing in it
    # expires during the test: only a direct read can find the new number.
    elsewhere = WhatsAppDirectory(world.engine.db, ttl=600)
    assert [e.credentials.phone_number_id for e in await elsewhere.all_numbers()] == [NUMBER]
    added = "100000000000888"
    await add_number(world.engine, world.project_id, phone_number_id=added)
    internal_id = (await world.get(f"/whatsapp/phone_numbers/{added}"))["data"]["internal_id"]
    credentials = await elsewhere.credentials(internal_id)
    assert credentials is not None
    assert (credentials.phone_number_id, credentials.project_id) == (added, world.project_id)
    assert await elsewhere.credentials("00000000-0000-0000-0000-000000000000") is None
