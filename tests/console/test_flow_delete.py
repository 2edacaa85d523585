"""Deleting flows from the flows list: the confirm in the row; a draft goes at once; a
flow with a waiting execution is refused by the API (409, shown in words) until "End
them and delete"; both are gone from the list and the API, and the execution ended."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import BrowserProblems, Server, screenshot, start_on_sandbox
from tests.console.test_build_and_chat import sign_in
from tests.support import example


def _flows(server: Server) -> tuple[httpx.Client, str, str, str]:
    """(client, draft id, waiting flow id, its execution id)."""
    http = httpx.Client(base_url=f"{server.url}/platform/v1", headers={"X-API-Key": server.api_key})
    draft = http.post("/workflows", json={"workflow": {"name": "Old draft"}}).json()["data"]
    execution_id = start_on_sandbox(http, "Age survey", example("canonical"), "+15550009999")
    live_id = http.get(f"/workflow_executions/{execution_id}").json()["data"]["workflow"]["id"]
    return http, str(draft["id"]), str(live_id), execution_id


def test_delete_a_draft_then_a_flow_with_a_waiting_execution(
    page: Any, server: Server, browser_problems: BrowserProblems
) -> None:
    http, draft_id, live_id, execution_id = _flows(server)
    sign_in(page, server)
    draft_row = page.get_by_role("row").filter(has_text="Old draft")
    draft_row.get_by_role("button", name="Delete").click()
    confirm = draft_row.get_by_role("group", name="Delete Old draft")
    expect(confirm).to_contain_text("Delete “Old draft”?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    draft_row.get_by_role("button", name="Delete").click()
    confirm.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted Old draft")
    expect(page.get_by_role("row").filter(has_text="Old draft")).to_have_count(0)

    browser_problems.expected.append(409)  # the API refuses while an execution waits
    live_row = page.get_by_role("row").filter(has_text="Age survey")
    live_row.get_by_role("button", name="Delete").click()
    live_row.get_by_role("button", name="Yes, delete").click()
    confirm = live_row.get_by_role("group", name="Delete Age survey")
    expect(confirm).to_contain_text("1 execution(s) still running, waiting or handed off")
    screenshot(page, "flows-delete")
    confirm.get_by_role("button", name="End them and delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted Age survey")
    expect(page.get_by_role("row").filter(has_text="Age survey")).to_have_count(0)

    assert http.get(f"/workflows/{draft_id}").status_code == 404
    assert http.get(f"/workflows/{live_id}").status_code == 404
    ended = http.get(f"/workflow_executions/{execution_id}").json()["data"]
    assert ended["status"] == "ended"
    http.close()
