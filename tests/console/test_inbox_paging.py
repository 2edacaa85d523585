"""The inbox pages beyond its first 50 conversations with the API's cursor: "Older
conversations" loads the next page below the first (and is gone when there is none)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import Server
from tests.console.layout import assert_panes_scroll_alone_in_windows
from tests.console.test_build_and_chat import sign_in

P = "/platform/v1"
CONVERSATIONS = 53  # one page of 50, then 3 older

GREETING = {
    "nodes": [
        {"id": "start", "data": {"node_type": "start", "config": {}}},
        {"id": "hi", "data": {"node_type": "send_text", "config": {"message": "Hi"}}},
    ],
    "edges": [{"source": "start", "target": "hi", "label": "next"}],
}


def active_greeter(http: httpx.Client) -> str:
    body = {"workflow": {"name": "Greeter", "definition": GREETING}}
    workflow = http.post("/workflows", json=body).json()["data"]
    trigger = {"trigger": {"trigger_type": "api_call"}}
    assert http.post(f"/workflows/{workflow['id']}/triggers", json=trigger).status_code == 201
    active = {"workflow": {"status": "active"}}
    assert http.patch(f"/workflows/{workflow['id']}", json=active).status_code == 200
    return str(workflow["id"])


def sandbox_conversation(http: httpx.Client, workflow_id: str, index: int) -> None:
    """A sandbox conversation with +1555100<index>, opened by starting the flow."""
    start = {"phone_number": f"+1555100{index:04d}", "context": {"channel": "sandbox"}}
    path = f"/workflows/{workflow_id}/executions"
    answer = http.post(path, json={"workflow_execution": start})
    while answer.status_code == 429:  # the burst limit: 30 starts a second
        time.sleep(float(answer.headers.get("Retry-After", "1")))
        answer = http.post(path, json={"workflow_execution": start})
    assert answer.status_code in (200, 201, 202), answer.text


def test_older_conversations_load_with_the_cursor(page: Any, server: Server) -> None:
    headers = {"X-API-Key": server.api_key}
    http = httpx.Client(base_url=f"{server.url}{P}", headers=headers, timeout=30)
    workflow_id = active_greeter(http)
    for index in range(CONVERSATIONS):
        sandbox_conversation(http, workflow_id, index)
    sign_in(page, server)
    page.goto(f"{server.url}/console/inbox")
    listed = page.get_by_role("region", name="Conversations").get_by_role("listitem")
    # The first page, newest first (the inbox stream may add conversations that got a
    # message in the seconds before it opened: at least 50 are listed).
    expect(listed.nth(49)).to_be_visible()
    expect(listed.first).to_contain_text(f"1555100{CONVERSATIONS - 1:04d}")

    # The next page by the API's cursor: the 3 oldest.
    with page.expect_response(
        lambda r: "/whatsapp/conversations?" in r.url and "after=" in r.url
    ) as older:
        page.get_by_role("button", name="Older conversations").click()
    assert len(older.value.json()["data"]) == CONVERSATIONS - 50
    expect(listed).to_have_count(CONVERSATIONS)
    expect(listed.last).to_contain_text("15551000000")
    expect(page.get_by_role("button", name="Older conversations")).to_have_count(0)

    # A new conversation arrives live and goes first; the older ones stay listed.
    sandbox_conversation(http, workflow_id, CONVERSATIONS)
    expect(listed).to_have_count(CONVERSATIONS + 1)
    expect(listed.first).to_contain_text(f"1555100{CONVERSATIONS:04d}")
    expect(listed.last).to_contain_text("15551000000")

    # The long list scrolls inside itself; the open conversation stays in view.
    listed.first.get_by_role("link").click()
    thread = page.get_by_role("region", name="Conversation", exact=True)
    expect(thread.get_by_role("textbox", name="Reply")).to_be_visible()
    conversations = page.get_by_role("region", name="Conversations")
    assert_panes_scroll_alone_in_windows(page, conversations, thread)
    http.close()
