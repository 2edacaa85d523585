"""Functions: CRUD, deploy, invoke (http type, against a real loopback endpoint), secrets,
invocation log. Kapso-typed functions are checked against its Function schema as is;
http functions against the same schema with "http" added to function_type (docs/api.md).
"""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from convoflow.api.app import create_app
from tests.api.conftest import new_project, serve
from tests.api.contract import assert_error, assert_matches, extended_validator
from tests.api.helpers import P


def assert_http_function(body):
    schema = "FunctionResponse" if isinstance(body.get("data"), dict) else "FunctionListResponse"
    validator = extended_validator(schema, ("Function", "properties", "function_type"), "http")
    errors = [e.message for e in validator.iter_errors(body)]
    assert not errors, errors


async def _echo(request: Request) -> JSONResponse:
    payload = await request.json()
    return JSONResponse({"echo": payload, "key": request.headers.get("idempotency-key")})


async def _broken(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("nope", status_code=500)


@pytest.fixture
async def endpoint():
    app = Starlette(
        routes=[
            Route("/echo", _echo, methods=["POST"]),
            Route("/broken", _broken, methods=["POST"]),
        ]
    )
    async with serve(app) as base_url:
        yield base_url


@pytest.fixture
async def fclient(engine):
    # Functions call a loopback endpoint here, which the egress guard allows only when
    # the project opts in.
    _, key = await new_project(engine, "functions", allow_private_network=True)
    transport = httpx.ASGITransport(app=create_app(engine, run_worker=False))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"X-API-Key": key}
    ) as http:
        yield http


async def test_kapso_shaped_function_is_stored_and_deployable(fclient):
    response = await fclient.post(
        f"{P}/functions",
        json={"function": {"name": "Shipping Cost", "code": "async function handler(){}"}},
    )
    assert response.status_code == 201, response.text
    assert_matches(response.json(), "FunctionResponse")
    function = response.json()["data"]
    assert (function["function_type"], function["status"], function["slug"]) == (
        "cloudflare_worker",
        "draft",
        "shipping-cost",
    )
    assert function["endpoint_url"].endswith(f"/platform/v1/functions/{function['id']}/invoke")
    deploy = await fclient.post(f"{P}/functions/{function['id']}/deploy")
    assert deploy.status_code == 202, deploy.text
    listed = await fclient.get(f"{P}/functions")
    assert_matches(listed.json(), "FunctionListResponse")


async def test_http_function_lifecycle(fclient, endpoint):
    response = await fclient.post(
        f"{P}/functions",
        json={
            "function": {
                "name": "Echo",
                "function_type": "http",
                "endpoint_url": f"{endpoint}/echo",
            }
        },
    )
    assert response.status_code == 201, response.text
    assert_http_function(response.json())
    function_id = response.json()["data"]["id"]
    base = f"{P}/functions/{function_id}"

    not_deployed = await fclient.post(f"{base}/invoke", json={"a": 1})
    assert not_deployed.status_code == 422
    assert not_deployed.json() == {"error": "Function is not deployed"}
    deploy = await fclient.post(f"{base}/deploy")
    assert deploy.status_code == 202
    assert_matches(deploy.json(), "FunctionDeployResponse")

    invoked = await fclient.post(f"{base}/invoke", json={"weight": 5.5})
    assert invoked.status_code == 200
    assert invoked.json()["echo"] == {"weight": 5.5}
    assert invoked.json()["key"]  # each invocation carries an Idempotency-Key

    patched = await fclient.patch(
        base, json={"function": {"invoke_response_mode": "wrapped", "lock_version": 0}}
    )
    assert patched.status_code == 200, patched.text
    assert_http_function(patched.json())
    stale = await fclient.patch(base, json={"function": {"name": "x", "lock_version": 0}})
    assert stale.status_code == 409
    wrapped = await fclient.post(f"{base}/invoke", json={"weight": 1})
    assert wrapped.json()["data"]["echo"] == {"weight": 1}

    bad_json = await fclient.post(
        f"{base}/invoke", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert_error(bad_json.json())

    log = await fclient.get(f"{base}/invocations", params={"limit": 5})
    assert_matches(log.json(), "FunctionInvocationsResponse")
    assert log.json()["data"]["total"] == 2

    secret = await fclient.post(
        f"{base}/secrets", json={"secret": {"name": "API_KEY", "value": "s3"}}
    )
    assert secret.status_code == 201
    assert_matches(secret.json(), "SimpleMessageResponse")
    await fclient.post(f"{base}/secrets", json={"secret": {"name": "CONFIG", "value": {"a": 1}}})
    secrets = await fclient.get(f"{base}/secrets")
    assert_matches(secrets.json(), "FunctionSecretListResponse")
    assert secrets.json()["data"] == [
        {"name": "API_KEY", "type": "text"},
        {"name": "CONFIG", "type": "json"},
    ]
    bad_name = await fclient.post(
        f"{base}/secrets", json={"secret": {"name": "lower", "value": "x"}}
    )
    assert bad_name.status_code == 422
    assert (await fclient.delete(f"{base}/secrets/API_KEY")).status_code == 204
    assert (await fclient.delete(f"{base}/secrets/API_KEY")).status_code == 404

    assert (await fclient.delete(base)).status_code == 204
    assert (await fclient.get(base)).status_code == 404


async def test_failing_function_and_public_invoke(fclient, engine, endpoint):
    created = await fclient.post(
        f"{P}/functions",
        json={
            "function": {
                "name": "Broken",
                "endpoint_url": f"{endpoint}/broken",
                "public_endpoint": True,
            }
        },
    )
    function_id = created.json()["data"]["id"]
    await fclient.post(f"{P}/functions/{function_id}/deploy")
    failed = await fclient.post(f"{P}/functions/{function_id}/invoke", json={})
    assert failed.status_code == 502
    assert failed.json()["error"] == "Function execution failed"
    assert failed.json()["invocation_id"]
    transport = httpx.ASGITransport(app=create_app(engine, run_worker=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anon:
        public = await anon.post(f"{P}/functions/{function_id}/invoke", json={})
        assert public.status_code == 502  # reachable without a key: it is public
        private = await fclient.post(
            f"{P}/functions",
            json={"function": {"name": "Private", "endpoint_url": f"{endpoint}/echo"}},
        )
        hidden = await anon.post(f"{P}/functions/{private.json()['data']['id']}/invoke", json={})
        assert hidden.status_code == 404
        assert_error(hidden.json())
