"""GET /platform/v1/node_types (our extension): the catalogue the console's editor builds
its palette and side-panel forms from, derived from graph/nodes' registry."""

from __future__ import annotations

import httpx
import jsonschema

from convoflow.graph.nodes import REGISTRY
from tests.api.helpers import P


async def test_every_registered_type_with_schema_limits_and_label(client):
    response = await client.get(f"{P}/node_types")
    assert response.status_code == 200, response.text
    types = {entry["type"]: entry for entry in response.json()["data"]}
    assert list(types) == [node.name for node in REGISTRY]
    for node in REGISTRY:
        entry = types[node.name]
        assert entry["label"] == node.display_name
        assert entry["stepable_type"] == node.stepable_type
        assert entry["icon"] and entry["icon"] != "node"
        jsonschema.Draft202012Validator.check_schema(entry["config_schema"])
        for field in entry["key_fields"]:
            assert field in entry["config_schema"]["properties"], (node.name, field)

    send_text = types["send_text"]
    assert send_text["config_schema"]["required"] == ["message"]
    assert send_text["limits"] == {"max_message_length": 4096}
    assert "phone_number_id" in send_text["advanced_fields"]
    assert types["send_interactive"]["limits"]["max_buttons"] == 3
    assert types["send_interactive"]["limits"]["max_button_title"] == 20
    wait = types["wait_for_response"]["limits"]
    assert (wait["min_timeout_seconds"], wait["max_timeout_seconds"]) == (10, 604_800)
    assert types["start"]["advanced_fields"] == []


async def test_a_schema_accepts_what_the_model_accepts(client):
    """The form built from the schema produces configs the API accepts."""
    types = {e["type"]: e for e in (await client.get(f"{P}/node_types")).json()["data"]}
    schema = types["wait_for_response"]["config_schema"]
    jsonschema.validate({"has_timeout": True, "timeout_seconds": 60}, schema)


async def test_needs_an_api_key(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
        response = await anonymous.get(f"{P}/node_types")
    assert response.status_code == 401
    assert "error" in response.json()


async def test_validate_reports_problems_without_saving(client):
    definition = {
        "nodes": [
            {"id": "start", "data": {"node_type": "start", "config": {}}},
            {"id": "hello", "data": {"node_type": "send_text", "config": {"message": ""}}},
        ],
        "edges": [{"source": "start", "target": "hello"}],
    }
    response = await client.post(f"{P}/definitions/validate", json={"definition": definition})
    assert response.status_code == 200, response.text
    report = response.json()["data"]
    assert report["valid"] is False
    [error] = report["errors"]
    assert (error["code"], error["node_id"], error["field"]) == (
        "empty_required_field",
        "hello",
        "config.message",
    )
    definition["nodes"][1]["data"]["config"]["message"] = "Hi"
    fixed = await client.post(f"{P}/definitions/validate", json={"definition": definition})
    assert fixed.json()["data"]["valid"] is True
    assert (await client.get(f"{P}/workflows")).json()["data"] == []

    refused = await client.post(f"{P}/definitions/validate", json={"definition": []})
    assert refused.status_code == 422
