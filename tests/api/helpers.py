"""Request helpers shared by the API tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import example

P = "/platform/v1"


def canonical() -> dict[str, Any]:
    return example("canonical")


async def create_workflow(
    client: httpx.AsyncClient, name: str = "Age check", definition: Any = None
) -> dict[str, Any]:
    body = {"workflow": {"name": name, "definition": definition or canonical()}}
    response = await client.post(f"{P}/workflows", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["data"]
    return created


async def startable_workflow(
    client: httpx.AsyncClient, name: str = "Age check", definition: Any = None
) -> dict[str, Any]:
    """An active workflow with an active api_call trigger."""
    workflow = await create_workflow(client, name, definition)
    trigger = {"trigger": {"trigger_type": "api_call"}}
    response = await client.post(f"{P}/workflows/{workflow['id']}/triggers", json=trigger)
    assert response.status_code == 201, response.text
    response = await client.patch(
        f"{P}/workflows/{workflow['id']}", json={"workflow": {"status": "active"}}
    )
    assert response.status_code == 200, response.text
    updated: dict[str, Any] = response.json()["data"]
    return updated


def start_body(phone: str = "+15550001111", **extra: Any) -> dict[str, Any]:
    context = {"channel": "sandbox", **extra.pop("context", {})}
    return {"workflow_execution": {"phone_number": phone, "context": context, **extra}}


async def start(
    client: httpx.AsyncClient, workflow_id: str, phone: str = "+15550001111", **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{P}/workflows/{workflow_id}/executions", json=start_body(phone, **extra)
    )
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()["data"]
    return accepted


async def execution(client: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    response = await client.get(f"{P}/workflow_executions/{execution_id}")
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()["data"]
    return detail


async def resume(client: httpx.AsyncClient, execution_id: str, data: Any) -> httpx.Response:
    return await client.post(
        f"{P}/workflow_executions/{execution_id}/resume", json={"message": {"data": data}}
    )


async def connect_number(engine: Any, project_id: str, phone_number_id: str) -> None:
    """A WhatsApp number of the project (triggers may only name the project's numbers)."""
    from convoflow.services.common import Actor
    from convoflow.services.whatsapp import phone_numbers

    spec = phone_numbers.NumberSpec(phone_number_id=phone_number_id, access_token="token")
    await phone_numbers.add_number(engine, Actor(project_id=project_id), spec, verify=False)
