"""The executions list's filters (the API's seed-001 filters): status, waiting reason,
start dates and conversation narrow the list; they live in the URL, so a reload keeps
them; clicking a row's conversation filters by it. The inspector draws the graph of the
definition version the execution runs, not the flow's current one."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import Server, screenshot
from tests.console.test_build_and_chat import sign_in

WAITS = {
    "nodes": [
        {"id": "start", "data": {"node_type": "start", "config": {}}},
        {"id": "ask", "data": {"node_type": "send_text", "config": {"message": "Name?"}}},
        {"id": "wait", "data": {"node_type": "wait_for_response", "config": {}}},
    ],
    "edges": [
        {"source": "start", "target": "ask", "label": "next"},
        {"source": "ask", "target": "wait", "label": "next"},
    ],
}


def _waiting_executions(server: Server) -> tuple[str, list[str]]:
    """A flow with two executions, one waiting for a reply, one ended."""
    with httpx.Client(
        base_url=f"{server.url}/platform/v1", headers={"X-API-Key": server.api_key}
    ) as http:
        body = {"workflow": {"name": "Filters", "definition": WAITS}}
        workflow = http.post("/workflows", json=body).json()["data"]
        wid = workflow["id"]
        activate = {"workflow": {"status": "active", "lock_version": workflow["lock_version"]}}
        assert http.patch(f"/workflows/{wid}", json=activate).status_code == 200
        trigger = {"trigger": {"trigger_type": "api_call"}}
        assert http.post(f"/workflows/{wid}/triggers", json=trigger).status_code == 201
        ids = []
        for phone in ("+15550002001", "+15550002002"):
            start = {
                "workflow_execution": {"phone_number": phone, "context": {"channel": "sandbox"}}
            }
            started = http.post(f"/workflows/{wid}/executions", json=start)
            assert started.status_code == 202, started.text
            ids.append(started.json()["data"]["id"])
        end = {"workflow_execution": {"status": "ended"}}
        assert http.patch(f"/workflow_executions/{ids[1]}", json=end).status_code == 200
    return wid, ids


def test_filter_executions(page: Any, server: Server) -> None:
    workflow_id, (waiting, ended) = _waiting_executions(server)
    sign_in(page, server)
    page.goto(f"{server.url}/console/flows/{workflow_id}/executions")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    filters = page.get_by_role("group", name="Filters")

    filters.get_by_label("Status").select_option("waiting")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(waiting[:13])
    filters.get_by_label("Waiting for").select_option("wait_for_response")
    expect(rows).to_have_count(1)
    screenshot(page, "executions-filters")
    filters.get_by_label("Waiting for").select_option("manual")
    expect(page.get_by_text("No executions match these filters.")).to_be_visible()

    # The filters are in the URL: a reload keeps them.
    page.reload()
    expect(filters.get_by_label("Waiting for")).to_have_value("manual")
    expect(page.get_by_text("No executions match these filters.")).to_be_visible()
    filters.get_by_role("button", name="Clear filters").click()
    expect(rows).to_have_count(2)

    filters.get_by_label("Started before").fill("2020-01-01T00:00")
    expect(page.get_by_text("No executions match these filters.")).to_be_visible()
    filters.get_by_label("Started before").fill("")
    filters.get_by_label("Started after").fill("2020-01-01T00:00")
    expect(rows).to_have_count(2)

    # A row's conversation: only that conversation's executions.
    rows.filter(has_text=ended[:13]).get_by_title("Only this conversation's executions").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(ended[:13])
    expect(rows.first).to_contain_text("ended")

    # The flow changes after the execution started: the inspector still draws v1's graph.
    with httpx.Client(
        base_url=f"{server.url}/platform/v1", headers={"X-API-Key": server.api_key}
    ) as http:
        shorter = {"nodes": WAITS["nodes"][:2], "edges": WAITS["edges"][:1]}
        changed = http.patch(
            f"/workflows/{workflow_id}", json={"workflow": {"definition": shorter}}
        )
        assert changed.status_code == 200, changed.text
    page.goto(f"{server.url}/console/executions/{waiting}")
    expect(page.get_by_test_id("pinned-version")).to_have_text(
        "definition v1 (not the current one)"
    )
    expect(page.get_by_test_id("node-wait")).to_be_visible()
