"""`DELETE /platform/v1/workflows/{id}` (our extension; Kapso has none): refused with 409
while an execution waits, `?force=true` ends it; a deleted workflow is gone from every
project read (404, not listed), its name is free again, its executions stay readable;
another project's workflow is a 404 and stays."""

from __future__ import annotations

import httpx

from convoflow.process import Process
from tests.api.conftest import new_project
from tests.api.helpers import (
    P,
    canonical,
    create_workflow,
    execution,
    start,
    start_body,
    startable_workflow,
)


async def test_delete_refuses_while_waiting_then_force_ends_it(client: httpx.AsyncClient) -> None:
    workflow = await startable_workflow(client, definition=canonical())
    started = await start(client, workflow["id"])
    assert (await execution(client, started["id"]))["status"] == "waiting"
    path = f"{P}/workflows/{workflow['id']}"

    refused = await client.delete(path)
    assert refused.status_code == 409, refused.text
    assert "1 execution(s) still running, waiting or handed off" in refused.json()["error"]
    assert (await client.get(path)).status_code == 200  # nothing changed

    deleted = await client.delete(f"{path}?force=true")
    assert deleted.status_code == 204, deleted.text
    detail = await execution(client, started["id"])  # history stays readable
    assert detail["status"] == "ended"
    assert detail["events"][-1]["payload"] == {"reason": "workflow_deleted"}

    for response in (
        await client.get(path),
        await client.get(f"{path}/definition"),
        await client.get(f"{path}/executions"),
        await client.get(f"{path}/triggers"),
        await client.patch(path, json={"workflow": {"name": "Back"}}),
        await client.post(f"{path}/executions", json=start_body("+15550002222")),
        await client.delete(f"{path}?force=true"),
    ):
        assert response.status_code == 404, (response.request.url, response.text)
    listed = (await client.get(f"{P}/workflows")).json()["data"]
    assert workflow["id"] not in [row["id"] for row in listed]
    # The name and slug are free for a new workflow.
    again = await create_workflow(client, workflow["name"])
    assert again["slug"] == workflow["slug"]


async def test_a_draft_without_executions_is_deleted_at_once(client: httpx.AsyncClient) -> None:
    workflow = await create_workflow(client, "Draft")
    assert (await client.delete(f"{P}/workflows/{workflow['id']}")).status_code == 204
    assert (await client.get(f"{P}/workflows")).json()["data"] == []


async def test_another_projects_workflow_is_not_found(
    client: httpx.AsyncClient, engine: Process
) -> None:
    workflow = await create_workflow(client)
    _, other_key = await new_project(engine, "other")
    path = f"{P}/workflows/{workflow['id']}?force=true"
    response = await client.delete(path, headers={"X-API-Key": other_key})
    assert response.status_code == 404
    assert (await client.get(f"{P}/workflows/{workflow['id']}")).status_code == 200
