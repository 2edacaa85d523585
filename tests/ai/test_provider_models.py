"""Provider models through the API and the CLI, on SQLite and PostgreSQL: Kapso's list
shape, our CRUD, the key write-only and encrypted at rest, project scoping."""

from __future__ import annotations

from typing import Any

import httpx
from typer.testing import CliRunner

from convoflow.cli import app as cli
from convoflow.process import Process
from tests.api.conftest import new_project
from tests.api.contract import assert_operation
from tests.whatsapp_e2e.test_secrets_at_rest import raw_secret_values, raw_tables

P = "/platform/v1/provider_models"
KEY = "sk-very-secret-provider-key"


def _body(**fields: Any) -> dict[str, Any]:
    return {
        "provider_model": {
            "name": "gpt-test",
            "base_url": "http://127.0.0.1:8099/v1",
            "api_key": KEY,
            **fields,
        }
    }


async def test_crud_and_kapso_list_shape(client: httpx.AsyncClient, engine: Process) -> None:
    created = await client.post(P, json=_body())
    assert created.status_code == 201, created.text
    model = created.json()["data"]
    assert model["provider"] == "openai" and model["model"] == "gpt-test"
    assert model["has_api_key"] is True and KEY not in created.text
    listed_body = (await client.get(P)).json()
    assert_operation(listed_body, "GET", "/provider_models")  # Kapso's documented shape
    listed = listed_body["data"]
    assert [{k: m[k] for k in ("id", "name", "provider")} for m in listed] == [
        {"id": model["id"], "name": "gpt-test", "provider": "openai"}
    ]
    patch = {"provider_model": {"provider": "anthropic", "model": "claude-x", "api_key": None}}
    updated = (await client.patch(f"{P}/{model['id']}", json=patch)).json()["data"]
    assert (updated["provider"], updated["model"], updated["has_api_key"]) == (
        "anthropic",
        "claude-x",
        False,
    )
    assert (await client.get(f"{P}/{model['id']}")).json()["data"] == updated
    assert (await client.delete(f"{P}/{model['id']}")).status_code == 204
    assert (await client.get(f"{P}/{model['id']}")).status_code == 404
    assert (await client.get(P)).json()["data"] == []


async def test_key_is_encrypted_at_rest(client: httpx.AsyncClient, engine: Process) -> None:
    assert (await client.post(P, json=_body())).status_code == 201
    stored = await raw_secret_values(engine.db.url)
    assert len(stored[("provider_models", "api_key")]) == 1
    assert KEY not in repr(await raw_tables(engine.db.url))


async def test_bad_input_is_a_clear_4xx(client: httpx.AsyncClient) -> None:
    assert (await client.post(P, json=_body())).status_code == 201
    cases = [
        (_body(name="other", provider="cohere"), "provider"),
        (_body(name="other", base_url="ftp://x"), "base_url"),
        (_body(name=""), "name"),
        (_body(), "already used"),
        ({"name": "flat"}, "provider_model"),
    ]
    for body, expected in cases:
        response = await client.post(P, json=body)
        assert response.status_code == 422, (body, response.text)
        assert expected in response.text


async def test_another_projects_model_is_not_found(
    client: httpx.AsyncClient, engine: Process, app: Any
) -> None:
    model_id = (await client.post(P, json=_body())).json()["data"]["id"]
    _, other_key = await new_project(engine, "other")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={"X-API-Key": other_key}
    ) as other:
        assert (await other.get(P)).json()["data"] == []
        assert (await other.get(f"{P}/{model_id}")).status_code == 404
        assert (await other.patch(f"{P}/{model_id}", json=_body())).status_code == 404
        assert (await other.delete(f"{P}/{model_id}")).status_code == 404
        # Names are per project: the other project may use the same one.
        assert (await other.post(P, json=_body())).status_code == 201
    assert (await client.get(f"{P}/{model_id}")).status_code == 200


def test_cli_add_list_remove(db_url: str) -> None:
    runner = CliRunner()
    run = lambda *args: runner.invoke(cli, [*args, "--database-url", db_url])  # noqa: E731
    assert run("projects", "create", "acme").exit_code == 0
    added = run(
        "providers",
        "add",
        "--project",
        "acme",
        "--name",
        "fake",
        "--provider",
        "anthropic",
        "--base-url",
        "http://127.0.0.1:8099",
        "--api-key",
        KEY,
    )
    assert added.exit_code == 0, added.output
    assert KEY not in added.output and '"has_api_key": true' in added.output
    listed = run("providers", "list", "--project", "acme")
    assert '"name": "fake"' in listed.output and KEY not in listed.output
    again = run("providers", "add", "--project", "acme", "--name", "fake")
    assert again.exit_code != 0 and "already used" in again.output
    assert run("providers", "remove", "fake", "--project", "acme").exit_code == 0
    assert run("providers", "list", "--project", "acme").output.strip() == "[]"
    assert run("providers", "remove", "fake", "--project", "acme").exit_code != 0
