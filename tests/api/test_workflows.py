"""Workflows and triggers: every response checked against Kapso's schemas."""

from __future__ import annotations

from tests.api.contract import assert_error, assert_matches
from tests.api.helpers import P, canonical, connect_number, create_workflow
from tests.support import chain, node


async def test_create_get_list_definition(client):
    response = await client.post(
        f"{P}/workflows",
        json={"workflow": {"name": "Lead Qualification!", "description": "qualify"}},
    )
    assert response.status_code == 201
    assert_matches(response.json(), "WorkflowResponse")
    created = response.json()["data"]
    assert created["status"] == "draft"
    assert created["slug"] == "lead-qualification"
    assert created["lock_version"] == 0

    response = await client.get(f"{P}/workflows/{created['id']}")
    assert_matches(response.json(), "WorkflowResponse")

    response = await client.get(f"{P}/workflows/{created['id']}/definition")
    assert_matches(response.json(), "WorkflowWithDefinitionResponse")
    assert response.json()["data"]["definition"] == {"nodes": [], "edges": []}

    with_definition = await create_workflow(client, "Age check")
    response = await client.get(f"{P}/workflows/{with_definition['id']}/definition")
    body = response.json()
    assert_matches(body, "WorkflowWithDefinitionResponse")
    nodes = {n["id"]: n for n in body["data"]["definition"]["nodes"]}
    assert nodes["ask_age"]["data"]["display_name"] == "Ask age"
    decide = nodes["check_age"]["data"]["config"]["conditions"]
    assert all(condition["id"] for condition in decide)
    labelled = {e["label"]: e for e in body["data"]["definition"]["edges"]}
    assert labelled["adult"]["flow_condition_id"] == decide[0]["id"]
    # Stored once: ids are stable across reads.
    again = await client.get(f"{P}/workflows/{with_definition['id']}/definition")
    assert again.json()["data"]["definition"] == body["data"]["definition"]

    response = await client.get(f"{P}/workflows")
    assert_matches(response.json(), "WorkflowListResponse")
    assert [w["name"] for w in response.json()["data"]] == ["Age check", "Lead Qualification!"]


async def test_list_filters(client, clock):
    await create_workflow(client, "Onboarding A")
    clock.advance(3600)
    second = await create_workflow(client, "Support")
    await client.patch(f"{P}/workflows/{second['id']}", json={"workflow": {"status": "active"}})

    async def names(**params):
        response = await client.get(f"{P}/workflows", params=params)
        assert_matches(response.json(), "WorkflowListResponse")
        return [w["name"] for w in response.json()["data"]]

    assert await names(status="active") == ["Support"]
    assert await names(name_contains="BOARD") == ["Onboarding A"]
    assert await names(name_contains="%") == []
    assert await names(created_after=second["created_at"]) == ["Support"]
    assert await names(created_before="2026-01-01T12:30:00Z") == ["Onboarding A"]


async def test_update_metadata_status_and_lock_version(client):
    workflow = await create_workflow(client)
    path = f"{P}/workflows/{workflow['id']}"
    response = await client.patch(
        path, json={"workflow": {"name": "Renamed", "lock_version": 0, "description": None}}
    )
    assert response.status_code == 200
    assert_matches(response.json(), "WorkflowResponse")
    data = response.json()["data"]
    assert (data["name"], data["slug"], data["lock_version"]) == ("Renamed", "age-check", 1)
    assert data["description"] is None

    stale = await client.patch(path, json={"workflow": {"name": "Again", "lock_version": 0}})
    assert stale.status_code == 409
    assert_error(stale.json())
    assert "lock_version 0 is stale" in stale.json()["error"]

    # The `flow` envelope is accepted too; every update increments lock_version.
    response = await client.patch(path, json={"flow": {"message_debounce_seconds": 3}})
    assert response.json()["data"]["lock_version"] == 2
    assert response.json()["data"]["message_debounce_seconds"] == 3


async def test_definition_replace_semantics_creates_versions(client):
    workflow = await create_workflow(client)
    path = f"{P}/workflows/{workflow['id']}"
    before = (await client.get(f"{path}/definition")).json()["data"]["definition"]

    # Only nodes: edges unchanged. A node whose edges are kept must still exist.
    nodes = [dict(n) for n in before["nodes"]]
    nodes[1] = {**nodes[1], "data": {**nodes[1]["data"], "display_name": "Ask the age"}}
    response = await client.patch(path, json={"workflow": {"definition": {"nodes": nodes}}})
    assert response.status_code == 200, response.text
    assert_matches(response.json(), "WorkflowResponse")
    after = (await client.get(f"{path}/definition")).json()["data"]["definition"]
    assert after["edges"] == before["edges"]
    assert after["nodes"][1]["data"]["display_name"] == "Ask the age"

    # Complete replacement of both collections.
    small = chain(node("start", "start"), node("hello", "send_text", message="hi"))
    response = await client.patch(path, json={"workflow": {"definition": small}})
    assert response.status_code == 200
    after = (await client.get(f"{path}/definition")).json()["data"]["definition"]
    assert [n["id"] for n in after["nodes"]] == ["start", "hello"]
    assert len(after["edges"]) == 1


async def test_activation_needs_a_definition_and_names_are_unique(client):
    empty = (await client.post(f"{P}/workflows", json={"workflow": {"name": "Empty"}})).json()
    response = await client.patch(
        f"{P}/workflows/{empty['data']['id']}", json={"workflow": {"status": "active"}}
    )
    assert response.status_code == 422
    assert_error(response.json())
    duplicate = await client.post(f"{P}/workflows", json={"workflow": {"name": "Empty"}})
    assert duplicate.status_code == 422
    assert "name" in duplicate.json()["error"]
    same_slug = await client.post(f"{P}/workflows", json={"workflow": {"name": "empty!"}})
    assert same_slug.status_code == 201
    assert same_slug.json()["data"]["slug"] == "empty-2"


async def test_variables(client, engine):
    workflow = await create_workflow(client)
    response = await client.get(f"{P}/workflows/{workflow['id']}/variables")
    assert response.status_code == 200
    assert_matches(response.json(), "WorkflowVariablesResponse")
    assert "system.flow_id" in response.json()["data"]["fixed"]["system"]


async def test_triggers_crud_and_validation(client, engine, project):
    await connect_number(engine, project[0], "1555")
    workflow = await create_workflow(client)
    base = f"{P}/workflows/{workflow['id']}/triggers"
    for trigger in (
        {"trigger_type": "api_call"},
        {"trigger_type": "inbound_message", "phone_number_id": "1555"},
        {"trigger_type": "whatsapp_event", "event": "whatsapp.message.received"},
        {
            "trigger_type": "project_event",
            "event_name": "order.paid",
            "property_key": "amount",
            "operator": "gte",
            "property_value": 10,
        },
    ):
        response = await client.post(base, json={"trigger": trigger})
        assert response.status_code == 201, response.text
        assert_matches(response.json(), "WorkflowTriggerResponse")
    listed = (await client.get(base)).json()
    assert_matches(listed, "WorkflowTriggerListResponse")
    assert [t["display_name"] for t in listed["data"]][:2] == ["API Call Trigger", "WhatsApp: 1555"]

    for bad in (
        {"trigger_type": "teleport"},
        {"trigger_type": "inbound_message"},
        {"trigger_type": "whatsapp_event"},
        {"trigger_type": "project_event", "event_name": "Bad Name"},
        {"trigger_type": "project_event", "event_name": "a.b", "property_key": "k"},
        {
            "trigger_type": "project_event",
            "event_name": "a.b",
            "property_key": "k",
            "operator": "gt",
            "property_value": "x",
        },
    ):
        response = await client.post(base, json={"trigger": bad})
        assert response.status_code == 422, (bad, response.text)
        assert_error(response.json())

    trigger_id = listed["data"][0]["id"]
    response = await client.patch(f"{P}/triggers/{trigger_id}", json={"trigger": {"active": False}})
    assert response.status_code == 200
    assert_matches(response.json(), "WorkflowTriggerResponse")
    assert response.json()["data"]["active"] is False
    response = await client.delete(f"{P}/triggers/{trigger_id}")
    assert response.status_code == 204 and response.content == b""
    assert (await client.delete(f"{P}/triggers/{trigger_id}")).status_code == 404


TWO_TRIGGERS = [
    {"trigger_type": "api_call"},
    {"trigger_type": "inbound_message", "phone_number_id": "42"},
]


async def test_triggers_replace_all_is_atomic_and_one_number_one_workflow(client, engine, project):
    await connect_number(engine, project[0], "42")
    first = await create_workflow(client, "First")
    second = await create_workflow(client, "Second")
    base = f"{P}/workflows/{first['id']}/triggers"
    response = await client.put(
        base,
        json={"triggers": TWO_TRIGGERS},
    )
    assert response.status_code == 200
    assert_matches(response.json(), "WorkflowTriggerListResponse")
    assert len(response.json()["data"]) == 2

    # The second workflow may not take the same number; nothing of the set is applied.
    other = f"{P}/workflows/{second['id']}/triggers"
    response = await client.put(
        other,
        json={"triggers": TWO_TRIGGERS},
    )
    assert response.status_code == 422
    assert (await client.get(other)).json()["data"] == []

    response = await client.put(base, json={"triggers": []})
    assert response.status_code == 200 and response.json()["data"] == []


async def test_archiving_ends_executions_and_stops_triggers(client, engine):
    from tests.api.helpers import execution, start, startable_workflow

    workflow = await startable_workflow(client, definition=canonical())
    started = await start(client, workflow["id"])
    response = await client.patch(
        f"{P}/workflows/{workflow['id']}", json={"workflow": {"status": "archived"}}
    )
    assert response.status_code == 200
    detail = await execution(client, started["id"])
    assert detail["status"] == "ended"
    assert detail["events"][-1]["payload"] == {"reason": "workflow_archived"}
    triggers = (await client.get(f"{P}/workflows/{workflow['id']}/triggers")).json()["data"]
    assert [t["active"] for t in triggers] == [False]
