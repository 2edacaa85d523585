"""Auth, project isolation and error responses: always JSON, always specific, never 500."""

from __future__ import annotations

import httpx
import pytest

from convoflow.api.app import create_app
from convoflow.api.ratelimit import RateLimits
from tests.api.conftest import new_project
from tests.api.contract import assert_error
from tests.api.helpers import P, create_workflow, start, startable_workflow


async def test_missing_wrong_and_bearer_keys(app, client, project):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anon:
        missing = await anon.get(f"{P}/workflows")
        assert missing.status_code == 401
        assert_error(missing.json())
        assert "X-API-Key" in missing.json()["error"]
        wrong = await anon.get(f"{P}/workflows", headers={"X-API-Key": "cf_nope"})
        assert wrong.status_code == 401
        assert_error(wrong.json())
        bearer = await anon.get(f"{P}/workflows", headers={"Authorization": f"Bearer {project[1]}"})
        assert bearer.status_code == 200
        legacy = await anon.get("/api/v1/flows")
        assert legacy.status_code == 401


async def test_another_projects_objects_are_not_found(app, client, engine):
    workflow = await startable_workflow(client)
    started = await start(client, workflow["id"])
    trigger_id = (await client.get(f"{P}/workflows/{workflow['id']}/triggers")).json()["data"][0][
        "id"
    ]
    event_id = (await client.get(f"{P}/workflow_executions/{started['id']}/events")).json()["data"][
        0
    ]["id"]
    conversation = (await client.get(f"{P}/workflow_executions/{started['id']}")).json()["data"][
        "whatsapp_conversation_id"
    ]
    _, other_key = await new_project(engine, "other")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"X-API-Key": other_key}
    ) as other:
        wid, eid = workflow["id"], started["id"]
        requests = [
            ("GET", f"{P}/workflows/{wid}", None),
            ("GET", f"{P}/workflows/{wid}/definition", None),
            ("GET", f"{P}/workflows/{wid}/variables", None),
            ("PATCH", f"{P}/workflows/{wid}", {"workflow": {"name": "mine"}}),
            ("GET", f"{P}/workflows/{wid}/triggers", None),
            ("POST", f"{P}/workflows/{wid}/triggers", {"trigger": {"trigger_type": "api_call"}}),
            ("PUT", f"{P}/workflows/{wid}/triggers", {"triggers": []}),
            ("PATCH", f"{P}/triggers/{trigger_id}", {"trigger": {"active": False}}),
            ("DELETE", f"{P}/triggers/{trigger_id}", None),
            ("GET", f"{P}/workflows/{wid}/executions", None),
            (
                "POST",
                f"{P}/workflows/{wid}/executions",
                {"workflow_execution": {"phone_number": "+15550001111"}},
            ),
            ("GET", f"{P}/workflow_executions/{eid}", None),
            (
                "PATCH",
                f"{P}/workflow_executions/{eid}",
                {"workflow_execution": {"status": "ended"}},
            ),
            ("POST", f"{P}/workflow_executions/{eid}/resume", {"message": {"data": "42"}}),
            ("GET", f"{P}/workflow_executions/{eid}/events", None),
            ("GET", f"{P}/workflow_events/{event_id}", None),
            ("GET", f"{P}/whatsapp/conversations/{conversation}/flow_executions", None),
            ("GET", f"/api/v1/flows/{wid}", None),
            ("GET", f"/api/v1/flow_executions/{eid}", None),
        ]
        for method, url, body in requests:
            response = await other.request(method, url, json=body)
            assert response.status_code == 404, (method, url, response.text)
            assert_error(response.json())
        assert (await other.get(f"{P}/workflows")).json()["data"] == []
    # Nothing changed for the owner.
    assert (await client.get(f"{P}/workflow_executions/{started['id']}")).json()["data"][
        "status"
    ] == "waiting"


@pytest.mark.parametrize(
    ("method", "url", "content", "headers", "status"),
    [
        ("POST", f"{P}/workflows", b'{"workflow": ', {"Content-Type": "application/json"}, 400),
        ("POST", f"{P}/workflows", b"name=x", {"Content-Type": "text/plain"}, 400),
        ("POST", f"{P}/workflows", b"", {"Content-Type": "application/json"}, 400),
        ("POST", f"{P}/workflows", b"[1, 2]", {"Content-Type": "application/json"}, 422),
        ("GET", f"{P}/nothing/here", b"", {}, 404),
        ("GET", "/nothing", b"", {}, 404),
        ("DELETE", f"{P}/workflows", b"", {}, 405),
        ("GET", f"{P}/workflows?name_contains=%00", b"", {}, 400),
    ],
)
async def test_malformed_requests_get_json_errors(client, method, url, content, headers, status):
    response = await client.request(method, url, content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert_error(response.json())
    if status == 405:
        assert response.headers["Allow"] == "GET, POST"
        assert "allowed: GET, POST" in response.json()["error"]


async def test_schema_violations_list_every_problem(client):
    response = await client.post(
        f"{P}/workflows",
        json={"workflow": {"name": "", "slug": "Not A Slug", "description": 5}},
    )
    assert response.status_code == 422
    body = response.json()
    assert_error(body)
    fields = {d["field"] for d in body["details"]}
    assert fields == {"workflow.name", "workflow.slug", "workflow.description"}
    nul = await client.post(f"{P}/workflows", json={"workflow": {"name": "a\u0000b"}})
    assert nul.status_code == 422
    assert "NUL" in nul.json()["error"]
    huge = await client.post(
        f"{P}/workflows/x/executions",
        json={"workflow_execution": {"phone_number": "+1555", "variables": {"n": 2**70}}},
    )
    assert huge.status_code == 422


async def test_rate_limits(app, client, project):
    app.state.limits = RateLimits(per_minute=3, burst_per_second=1)
    workflow = await startable_workflow(client)  # 3 requests: the minute's budget
    response = await client.get(f"{P}/workflows")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.json() == {
        "error": "Rate limit exceeded",
        "message": "You have exceeded the rate limit. Please try again later.",
    }
    app.state.limits = RateLimits(per_minute=100, burst_per_second=1)
    url = f"{P}/workflows/{workflow['id']}/executions"
    body = {
        "workflow_execution": {"phone_number": "+15550001111", "context": {"channel": "sandbox"}}
    }
    first = await client.post(url, json=body)
    assert first.status_code == 202
    assert first.headers["X-Burst-RateLimit-Limit"] == "1"
    assert first.headers["X-Burst-RateLimit-Remaining"] == "0"
    second = await client.post(url, json=body)
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "1"
    assert second.json() == {
        "error": "Burst rate limit exceeded",
        "message": "Too many workflow execution requests in a short period. Try again in 1 second.",
    }


async def test_health_openapi_and_docs(client, engine):
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    spec = (await client.get("/openapi.json")).json()
    assert f"{P}/workflows/{{workflow_id}}/executions" in spec["paths"]
    assert "/api/v1/flows" in spec["paths"]
    assert "X-API-Key" in str(spec["components"]["securitySchemes"])
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_unexpected_errors_become_logged_json_500s(engine, project):
    app = create_app(engine, run_worker=False)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    assert_error(response.json())
    assert "bug" in response.json()["error"]


async def test_provider_models_and_workflow_without_definition(client):
    response = await client.get(f"{P}/provider_models")
    assert response.json() == {"data": []}
    workflow = await create_workflow(client, "x")
    assert workflow["status"] == "draft"
