"""The older flows API (`/api/v1`): shapes field for field as Kapso's reference pages show."""

from __future__ import annotations

from tests.api.helpers import P, canonical

V1 = "/api/v1"
FLOW_KEYS = {
    "id",
    "name",
    "description",
    "status",
    "project_id",
    "created_at",
    "updated_at",
    "created_by",
    "last_executed_at",
    "execution_count",
}
EXECUTION_KEYS = {
    "id",
    "flow_id",
    "status",
    "started_at",
    "ended_at",
    "last_event_at",
    "tracking_id",
    "current_step",
    "execution_context",
    "variables",
    "flow",
}


def assert_flow(flow, keys=FLOW_KEYS | {"validation"}):
    """A flow read: Kapso's fields plus `validation` (its definition's problems)."""
    assert set(flow) == keys
    assert set(flow["created_by"]) == {"id", "name"}


def assert_execution(execution):
    assert set(execution) == EXECUTION_KEYS
    assert set(execution["current_step"]) == {"id", "name", "step_type"}
    assert_flow(execution["flow"], FLOW_KEYS)


async def test_flows_crud_and_definition(client):
    created = await client.post(
        f"{V1}/flows",
        json={"flow": {"name": "Onboarding", "description": "hi", "definition": canonical()}},
    )
    assert created.status_code == 201, created.text
    flow = created.json()["data"]
    assert_flow(flow)
    assert flow["status"] == "draft" and flow["execution_count"] == 0

    listed = (await client.get(f"{V1}/flows")).json()["data"]
    assert [f["id"] for f in listed] == [flow["id"]]
    assert (await client.get(f"{V1}/flows", params={"q[status_eq]": "active"})).json()["data"] == []

    got = (await client.get(f"{V1}/flows/{flow['id']}")).json()["data"]
    assert got == flow

    definition = (await client.get(f"{V1}/flows/{flow['id']}/definition")).json()["data"]
    assert set(definition) == FLOW_KEYS | {"definition", "whatsapp_configs", "validation"}
    node = definition["definition"]["nodes"][0]
    assert set(node) == {"id", "type", "position", "data"}
    assert set(node["data"]) == {"nodeType", "config", "displayName"}
    edge = definition["definition"]["edges"][0]
    assert set(edge) == {"id", "source", "target", "label", "type", "flow_condition_id"}

    patched = await client.patch(
        f"{V1}/flows/{flow['id']}", json={"flow": {"description": "new", "status": "active"}}
    )
    assert patched.status_code == 200, patched.text
    assert_flow(patched.json()["data"])
    assert patched.json()["data"]["description"] == "new"
    # The same data through /platform/v1.
    workflow = (await client.get(f"{P}/workflows/{flow['id']}")).json()["data"]
    assert (workflow["status"], workflow["description"]) == ("active", "new")


async def test_flow_executions_start_list_get_resume(client):
    flow = (
        await client.post(f"{V1}/flows", json={"flow": {"name": "F", "definition": canonical()}})
    ).json()["data"]
    await client.patch(f"{V1}/flows/{flow['id']}", json={"flow": {"status": "active"}})
    body = {
        "phone_number": "+1234567890",
        "variables": {"name": "John"},
        "context": {"source": "mobile_app", "channel": "sandbox"},
        "initial_data": {},
    }
    no_trigger = await client.post(f"{V1}/flows/{flow['id']}/executions", json=body)
    assert no_trigger.status_code == 422
    await client.post(
        f"{P}/workflows/{flow['id']}/triggers", json={"trigger": {"trigger_type": "api_call"}}
    )
    started = await client.post(f"{V1}/flows/{flow['id']}/executions", json=body)
    assert started.status_code == 202, started.text
    queued = started.json()
    assert set(queued) == {"flow_id", "tracking_id", "message"}
    assert queued["message"] == "Flow execution queued"

    listed = await client.get(f"{V1}/flows/{flow['id']}/executions", params={"q[status_eq]": "1"})
    [item] = listed.json()["data"]
    assert_execution(item)
    assert item["tracking_id"] == queued["tracking_id"]
    assert item["variables"] == {"name": "John"}
    assert item["current_step"]["name"] == "Wait for age"
    assert item["current_step"]["step_type"] == "wait_for_response"
    none = await client.get(f"{V1}/flows/{flow['id']}/executions", params={"q[status_eq]": "2"})
    assert none.json()["data"] == []
    window = await client.get(
        f"{V1}/flows/{flow['id']}/executions",
        params={"q[started_at_gteq]": item["started_at"], "q[started_at_lteq]": item["started_at"]},
    )
    assert len(window.json()["data"]) == 1

    got = (await client.get(f"{V1}/flow_executions/{item['id']}")).json()["data"]
    assert got == item

    resumed = await client.post(
        f"{V1}/flow_executions/{item['id']}/resume",
        json={"input": "42", "message": {"button_id": "confirm", "additional_data": {"t": 1}}},
    )
    assert resumed.status_code == 200, resumed.text
    data = resumed.json()["data"]
    assert_execution(data)
    assert data["status"] == "ended"
    assert data["variables"]["last_user_input"] == "42"
    assert data["variables"]["last_user_message"]["button_id"] == "confirm"
    assert data["flow"]["execution_count"] == 1

    empty = await client.post(f"{V1}/flow_executions/{item['id']}/resume", json={})
    assert empty.status_code == 422


async def _startable_flow(client, name):
    """An active flow with an api_call trigger."""
    flow = (
        await client.post(f"{V1}/flows", json={"flow": {"name": name, "definition": canonical()}})
    ).json()["data"]
    await client.patch(f"{V1}/flows/{flow['id']}", json={"flow": {"status": "active"}})
    await client.post(
        f"{P}/workflows/{flow['id']}/triggers", json={"trigger": {"trigger_type": "api_call"}}
    )
    return flow


async def test_resume_with_message_only_uses_the_message_as_input(client):
    flow = await _startable_flow(client, "G")
    await client.post(
        f"{V1}/flows/{flow['id']}/executions",
        json={"phone_number": "+1234567890", "context": {"channel": "sandbox"}},
    )
    [item] = (await client.get(f"{V1}/flows/{flow['id']}/executions")).json()["data"]
    message = {"button_id": "yes"}
    resumed = await client.post(
        f"{V1}/flow_executions/{item['id']}/resume", json={"message": message}
    )
    assert resumed.status_code == 200
    assert resumed.json()["data"]["variables"]["last_user_input"] == message


async def test_idempotent_replays_are_the_first_answer_byte_for_byte(client):
    """The stored result is the domain's (the execution as answered); the API renders a
    replay the way it rendered the first answer: same status, same bytes, key order of
    the user's variables included (PostgreSQL's JSONB would sort them)."""
    flow = await _startable_flow(client, "H")
    body = {
        "phone_number": "+1234567890",
        "variables": {"zeta": 1, "alpha": {"y": 2, "b": 3}},
        "context": {"channel": "sandbox"},
    }
    url = f"{V1}/flows/{flow['id']}/executions"
    first = await client.post(url, json=body, headers={"Idempotency-Key": "s-1"})
    again = await client.post(url, json=body, headers={"Idempotency-Key": "s-1"})
    assert (
        (first.status_code, first.content)
        == (again.status_code, again.content)
        == (
            202,
            first.content,
        )
    )
    [item] = (await client.get(url)).json()["data"]

    resume_url = f"{V1}/flow_executions/{item['id']}/resume"
    resume_body = {"input": "42", "message": {"zz": 1, "aa": 2}}
    once = await client.post(resume_url, json=resume_body, headers={"Idempotency-Key": "r-1"})
    twice = await client.post(resume_url, json=resume_body, headers={"Idempotency-Key": "r-1"})
    assert once.status_code == twice.status_code == 200, once.text
    assert once.content == twice.content
    assert list(once.json()["data"]["variables"])[:2] == ["zeta", "alpha"]
