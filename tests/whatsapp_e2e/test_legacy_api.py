"""The legacy `/api/v1` flows API with WhatsApp numbers, on both databases: a flow's
definition lists the numbers that start it (`whatsapp_configs`), and a start may name the
number to send from with `whatsapp_config_id`."""

from __future__ import annotations

from tests.whatsapp_e2e.conftest import NUMBER, USER, P, World, add_number
from tests.whatsapp_e2e.helpers import echo_start, inbound_flow, sent_texts

LEGACY = "/api/v1"
OTHER_NUMBER = "100000000000777"


async def test_whatsapp_configs_and_a_start_from_a_named_number(world: World) -> None:
    flow_id = await inbound_flow(world, echo_start())
    api_call = {"trigger": {"trigger_type": "api_call"}}
    response = await world.api.post(f"{P}/workflows/{flow_id}/triggers", json=api_call)
    assert response.status_code == 201, response.text
    number = (await world.get(f"/whatsapp/phone_numbers/{NUMBER}"))["data"]
    # A second number of the project, attached to no trigger: only a start can name it.
    await add_number(world.engine, world.project_id, phone_number_id=OTHER_NUMBER)
    other = (await world.get(f"/whatsapp/phone_numbers/{OTHER_NUMBER}"))["data"]

    definition = (await world.api.get(f"{LEGACY}/flows/{flow_id}/definition")).json()["data"]
    assert definition["whatsapp_configs"] == [
        {"id": number["internal_id"], "name": "Support", "phone_number": "+1 555 010 0000"}
    ]

    started = await world.api.post(
        f"{LEGACY}/flows/{flow_id}/executions",
        json={"phone_number": f"+{USER}", "whatsapp_config_id": other["internal_id"],
              "variables": {"last_user_input": "from the API"}},
    )  # fmt: skip
    assert started.status_code == 202, started.text
    await world.settle()
    assert sent_texts(world, USER) == ["got: from the API"]
    (record,) = world.fake.records(to=USER)
    assert record["phone_number_id"] == OTHER_NUMBER

    unknown = await world.api.post(
        f"{LEGACY}/flows/{flow_id}/executions",
        json={"phone_number": f"+{USER}", "whatsapp_config_id": "no-such-config"},
    )
    assert unknown.status_code == 422
    (problem,) = unknown.json()["details"]
    assert problem["field"] == "whatsapp_config_id" and "phone_numbers" in problem["message"]


async def test_a_flow_without_numbers_lists_none(world: World) -> None:
    flow_id = await inbound_flow(world, echo_start(), trigger={"trigger_type": "api_call"})
    definition = (await world.api.get(f"{LEGACY}/flows/{flow_id}/definition")).json()["data"]
    assert definition["whatsapp_configs"] == []
