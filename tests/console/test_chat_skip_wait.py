"""The test chat's "Skip the wait" and "Restart": a question that waits up to 2 hours
moves on at once when the wait is skipped (the timeout fires through the API's
skip_wait), and "Restart" begins a new conversation from the start. A wait without a
timeout offers no "Skip the wait" (it could only answer 409)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import Server, screenshot
from tests.console.test_build_and_chat import sign_in


def _node(node_id: str, node_type: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "data": {"node_type": node_type, "config": config}}


REMINDER = {
    "nodes": [
        _node("start", "start"),
        _node("ask", "send_text", message="Your order number?"),
        _node("wait", "wait_for_response", has_timeout=True, timeout_seconds=7200),
        _node("bye", "send_text", message="Moving on."),
    ],
    "edges": [
        {"source": "start", "target": "ask", "label": "next"},
        {"source": "ask", "target": "wait", "label": "next"},
        {"source": "wait", "target": "bye", "label": "next"},
    ],
}


def _active_flow(
    server: Server, definition: dict[str, Any] = REMINDER, name: str = "Reminder"
) -> str:
    with httpx.Client(
        base_url=f"{server.url}/platform/v1", headers={"X-API-Key": server.api_key}
    ) as http:
        body = {"workflow": {"name": name, "definition": definition}}
        workflow = http.post("/workflows", json=body).json()["data"]
        activate = {"workflow": {"status": "active", "lock_version": workflow["lock_version"]}}
        assert http.patch(f"/workflows/{workflow['id']}", json=activate).status_code == 200
        return str(workflow["id"])


def test_skip_the_wait_then_restart(page: Any, server: Server) -> None:
    workflow_id = _active_flow(server)
    sign_in(page, server)
    page.goto(f"{server.url}/console/flows/{workflow_id}/chat")
    page.get_by_role("button", name="Start chat").click()
    bot = page.get_by_test_id("bot-bubble")
    expect(bot).to_have_count(1)
    expect(bot.first).to_have_text("Your order number?")
    expect(page.get_by_test_id("execution-status")).to_have_text("waiting")

    expect(page.get_by_test_id("no-timer")).to_have_count(0)
    page.get_by_role("button", name="Skip the wait").click()
    expect(page.get_by_role("status")).to_have_text("Fired: wait timeout.")
    expect(bot).to_have_count(2)
    expect(bot.nth(1)).to_have_text("Moving on.")
    expect(page.get_by_test_id("execution-status")).to_have_text("ended")
    expect(page.get_by_role("button", name="Skip the wait")).to_have_count(0)
    screenshot(page, "test-chat-skip-wait")

    page.get_by_role("button", name="Restart").click()
    expect(page.get_by_test_id("execution-status")).to_have_text("waiting")
    expect(bot).to_have_count(1)
    expect(bot.first).to_have_text("Your order number?")
    expect(page.get_by_role("status")).to_have_count(0)


def test_no_skip_the_wait_without_a_timeout(page: Any, server: Server) -> None:
    patient = {**REMINDER, "nodes": [*REMINDER["nodes"][:2], _node("wait", "wait_for_response")]}
    patient["nodes"].append(REMINDER["nodes"][3])
    workflow_id = _active_flow(server, patient, "Patient")
    sign_in(page, server)
    page.goto(f"{server.url}/console/flows/{workflow_id}/chat")
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_test_id("bot-bubble").first).to_have_text("Your order number?")
    # Said once the conversation's timers were read for this position: none.
    expect(page.get_by_test_id("no-timer")).to_have_text("Waits for the user (no timeout)")
    expect(page.get_by_role("button", name="Skip the wait")).to_have_count(0)
    expect(page.get_by_test_id("execution-status")).to_have_text("waiting")
