"""Drafts may hold invalid graphs; active workflows may not (issue 8, item 3).

A draft stores any definition that is not malformed and every read carries its problems
(`validation`); activating it, starting it or saving problems into an active workflow is
a 422 listing every problem. Malformed shapes are refused at once on both APIs.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from convoflow.ids import new_id
from convoflow.process import Process
from convoflow.store import workflows as workflow_store
from tests.api.contract import assert_error, assert_matches
from tests.api.helpers import P, canonical, create_workflow, start_body, startable_workflow
from tests.support import node

V1 = "/api/v1"

# Kapso's "Create a new flow" page (docs.kapso.ai/api-reference/flows/create-a-new-flow),
# byte for byte: its only edge targets `send_text_1`, a node the body does not contain,
# and the page shows the flow being created.
SEED_003 = {
    "flow": {
        "name": "Customer Onboarding Flow",
        "description": "Automated flow for onboarding new customers",
        "definition": {
            "nodes": [
                {
                    "id": "start_node_1",
                    "position": {"x": 100, "y": 200},
                    "data": {"node_type": "start", "config": {}},
                }
            ],
            "edges": [
                {
                    "id": "edge_1",
                    "source": "start_node_1",
                    "target": "send_text_1",
                    "label": "next",
                    "flow_condition_id": "<string>",
                }
            ],
        },
    }
}

SEED_003_ERRORS = [("missing_edge_target", "start_node_1", "edges[0].target")]

# Graph-level problems of several kinds: no start node, a node missing required config,
# an unknown node type and a dangling edge.
BROKEN = {
    "nodes": [
        {"id": "begin", "data": {"node_type": "send_text", "config": {}}},
        {"id": "x", "data": {"node_type": "teleport", "config": {}}},
    ],
    "edges": [{"source": "begin", "target": "nowhere"}],
}

START = {"id": "start", "data": {"node_type": "start", "config": {}}}
MALFORMED: list[tuple[Any, str]] = [
    ({"nodes": {"start": START}}, "nodes"),
    ({"nodes": [START, 5]}, "nodes[1]"),
    ({"nodes": [{"data": {"node_type": "start", "config": {}}}]}, "nodes[0].id"),
    ({"nodes": [{"id": "a"}]}, "data"),
    ({"nodes": [{"id": "a", "data": {"config": {}}}]}, "data.node_type"),
    ({"nodes": [{"id": "a", "data": {"node_type": "start", "config": []}}]}, "data.config"),
    ({"nodes": [{"id": "a", "data": {"node_type": "teleport", "config": 3}}]}, "data.config"),
    ({"nodes": [{**START, "position": {"x": "left", "y": 0}}]}, "position.x"),
    ({"nodes": [{**START, "position": {"x": 0, "y": "1e400"}}]}, "position.y"),
    ({"nodes": [START], "edges": [{"source": "start"}]}, "edges[0].target"),
    ({"nodes": [START], "edges": [{"source": "start", "target": 7}]}, "edges[0].target"),
    ({"nodes": [START], "edges": "none"}, "edges"),
]


def triples(problems: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    return [(p["code"], p["node_id"], p["field"]) for p in problems]


def assert_refused_with(response: httpx.Response, errors: list[dict[str, Any]]) -> None:
    """A 422 whose details are every problem of the definition (node id, field, code)."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert_error(body)
    assert triples(body["details"]) == triples(errors)
    assert f"{len(errors)} problem" in body["error"]


async def test_seed_003_is_created_as_a_draft_and_refused_until_fixed(client):
    created = await client.post(f"{V1}/flows", json=SEED_003)
    assert created.status_code == 201, created.text
    flow = created.json()["data"]
    assert flow["status"] == "draft"
    validation = flow["validation"]
    assert validation["valid"] is False
    assert triples(validation["errors"]) == SEED_003_ERRORS
    assert [w["code"] for w in validation["warnings"]] == ["start_node_id_not_start"]
    flow_id = flow["id"]

    # Every read carries the problems; the graph is stored as sent.
    assert (await client.get(f"{V1}/flows/{flow_id}")).json()["data"]["validation"] == validation
    [listed] = (await client.get(f"{V1}/flows")).json()["data"]
    assert listed["validation"] == validation
    read = (await client.get(f"{V1}/flows/{flow_id}/definition")).json()["data"]
    assert read["validation"] == validation
    assert [n["id"] for n in read["definition"]["nodes"]] == ["start_node_1"]
    assert read["definition"]["nodes"][0]["position"] == {"x": 100, "y": 200}
    [stored_edge] = read["definition"]["edges"]
    assert (stored_edge["id"], stored_edge["source"], stored_edge["target"]) == (
        "edge_1",
        "start_node_1",
        "send_text_1",
    )
    platform = (await client.get(f"{P}/workflows/{flow_id}")).json()
    assert_matches(platform, "WorkflowResponse")
    assert platform["data"]["validation"] == validation

    # Activating or starting it lists every problem; nothing changes.
    trigger = {"trigger": {"trigger_type": "api_call"}}
    assert (await client.post(f"{P}/workflows/{flow_id}/triggers", json=trigger)).is_success
    activate = await client.patch(f"{V1}/flows/{flow_id}", json={"flow": {"status": "active"}})
    assert_refused_with(activate, validation["errors"])
    start = {"phone_number": "+15550001111", "context": {"channel": "sandbox"}}
    refused = await client.post(f"{V1}/flows/{flow_id}/executions", json=start)
    assert_refused_with(refused, validation["errors"])
    assert "draft" in refused.json()["error"]
    assert (await client.get(f"{V1}/flows/{flow_id}")).json()["data"]["status"] == "draft"

    # Adding the missing node (edges omitted: unchanged) makes it valid and runnable.
    send = {**node("send_text_1", "send_text", message="Welcome!"), "position": {"x": 0, "y": 0}}
    nodes = [SEED_003["flow"]["definition"]["nodes"][0], send]  # type: ignore[index]
    fixed = await client.patch(
        f"{V1}/flows/{flow_id}", json={"flow": {"definition": {"nodes": nodes}}}
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["data"]["validation"]["valid"] is True
    active = await client.patch(f"{V1}/flows/{flow_id}", json={"flow": {"status": "active"}})
    assert active.status_code == 200, active.text
    assert active.json()["data"]["status"] == "active"
    assert (await client.post(f"{V1}/flows/{flow_id}/executions", json=start)).status_code == 202


async def test_platform_draft_keeps_problems_and_activation_and_start_list_them(client):
    created = await client.post(
        f"{P}/workflows", json={"workflow": {"name": "Broken", "definition": BROKEN}}
    )
    assert created.status_code == 201, created.text
    assert_matches(created.json(), "WorkflowResponse")
    workflow = created.json()["data"]
    errors = workflow["validation"]["errors"]
    assert {
        ("missing_start_node", None),
        ("empty_required_field", "begin"),
        ("unknown_node_type", "x"),
        ("missing_edge_target", "begin"),
    } <= {(p["code"], p["node_id"]) for p in errors}, errors
    path = f"{P}/workflows/{workflow['id']}"
    for read in (await client.get(path), await client.get(f"{path}/definition")):
        assert read.json()["data"]["validation"] == workflow["validation"]
    [listed] = (await client.get(f"{P}/workflows")).json()["data"]
    assert listed["validation"] == workflow["validation"]

    trigger = {"trigger": {"trigger_type": "api_call"}}
    assert (await client.post(f"{path}/triggers", json=trigger)).status_code == 201
    assert_refused_with(await client.patch(path, json={"workflow": {"status": "active"}}), errors)
    assert_refused_with(await client.post(f"{path}/executions", json=start_body()), errors)
    after = (await client.get(path)).json()["data"]
    assert (after["status"], after["lock_version"]) == ("draft", 0)

    # Saving a definition and activating in one request is checked as a whole.
    both = {"workflow": {"status": "active", "definition": {"nodes": BROKEN["nodes"][:1]}}}
    assert (await client.patch(path, json=both)).status_code == 422
    fixed = {"workflow": {"status": "active", "definition": canonical()}}
    response = await client.patch(path, json=fixed)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["validation"]["valid"] is True


async def test_active_workflow_refuses_a_definition_with_problems(client):
    workflow = await startable_workflow(client, definition=canonical())
    path = f"{P}/workflows/{workflow['id']}"
    before = (await client.get(f"{path}/definition")).json()["data"]

    response = await client.patch(path, json={"workflow": {"definition": BROKEN}})
    assert response.status_code == 422, response.text
    details = response.json()["details"]
    assert ("unknown_node_type", "x", "data.node_type") in triples(details)
    after = (await client.get(f"{path}/definition")).json()["data"]
    assert after["definition"] == before["definition"]
    assert after["lock_version"] == before["lock_version"]

    # Back to draft in the same request: stored, with its problems.
    response = await client.patch(
        path, json={"workflow": {"status": "draft", "definition": BROKEN}}
    )
    assert response.status_code == 200, response.text
    draft = response.json()["data"]
    assert draft["status"] == "draft" and draft["validation"]["valid"] is False
    refused = await client.patch(path, json={"workflow": {"status": "active"}})
    assert_refused_with(refused, draft["validation"]["errors"])


@pytest.mark.parametrize(("definition", "field"), MALFORMED)
async def test_malformed_definitions_are_refused_at_once(client, definition, field):
    draft = await create_workflow(client, "Draft", definition={"nodes": [START]})
    before = (await client.get(f"{P}/workflows/{draft['id']}/definition")).json()["data"]
    attempts = [
        await client.post(
            f"{P}/workflows", json={"workflow": {"name": "M", "definition": definition}}
        ),
        await client.post(f"{V1}/flows", json={"flow": {"name": "M", "definition": definition}}),
        await client.patch(
            f"{P}/workflows/{draft['id']}", json={"workflow": {"definition": definition}}
        ),
        await client.patch(f"{V1}/flows/{draft['id']}", json={"flow": {"definition": definition}}),
    ]
    for response in attempts:
        assert response.status_code == 422, response.text
        body = response.json()
        assert_error(body)
        assert body["error"].startswith("definition is malformed"), body
        assert any(field in (p["field"] or "") for p in body["details"]), body["details"]
    assert [w["id"] for w in (await client.get(f"{P}/workflows")).json()["data"]] == [draft["id"]]
    after = (await client.get(f"{P}/workflows/{draft['id']}/definition")).json()["data"]
    assert after == before


async def test_an_active_version_with_problems_is_never_started(client, engine: Process):
    """A version with problems can only be current on an active workflow if it was stored
    another way (an older release, a direct import): starting it is still a 422."""
    workflow = await startable_workflow(client, definition=canonical())

    version_id = new_id()

    async def store_broken(adv: Any) -> None:
        await workflow_store.insert_version(
            adv.conn,
            {
                "id": version_id,
                "workflow_id": workflow["id"],
                "number": 99,
                "definition": BROKEN,
                "created_at": adv.now,
            },
        )
        await workflow_store.update_workflow(
            adv.conn, workflow["id"], {"current_version_id": version_id}
        )

    await engine.runtime.op(store_broken)
    path = f"{P}/workflows/{workflow['id']}"
    shown = (await client.get(path)).json()["data"]
    assert shown["status"] == "active" and shown["validation"]["valid"] is False
    response = await client.post(f"{path}/executions", json=start_body())
    assert_refused_with(response, shown["validation"]["errors"])
    assert (await client.get(f"{path}/executions")).json()["data"] == []
