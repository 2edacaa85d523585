"""The inbox pages beyond its first 50 conversations with the API's cursor: "Older
conversations" loads the next page below the first (and is gone when there is none)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import Server
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


def sandbox_conversations(server: Server, count: int) -> None:
    """`count` sandbox conversations, one per started execution, oldest first."""
    headers = {"X-API-Key": server.api_key}
    with httpx.Client(base_url=f"{server.url}{P}", headers=headers, timeout=30) as http:
        body = {"workflow": {"name": "Greeter", "definition": GREETING}}
        workflow = http.post("/workflows", json=body).json()["data"]
        trigger = {"trigger": {"trigger_type": "api_call"}}
        assert http.post(f"/workflows/{workflow['id']}/triggers", json=trigger).status_code == 201
        active = {"workflow": {"status": "active"}}
        assert http.patch(f"/workflows/{workflow['id']}", json=active).status_code == 200
        for index in range(count):
            start = {"phone_number": f"+1555100{index:04d}", "context": {"channel": "sandbox"}}
            path = f"/workflows/{workflow['id']}/executions"
            answer = http.post(path, json={"workflow_execution": start})
            while answer.status_code == 429:  # the burst limit: 30 starts a second
                time.sleep(float(answer.headers.get("Retry-After", "1")))
                answer = http.post(path, json={"workflow_execution": start})
            assert answer.status_code in (200, 201, 202), answer.text


def test_older_conversations_load_with_the_cursor(page: Any, server: Server) -> None:
    sandbox_conversations(server, CONVERSATIONS)
    sign_in(page, server)
    page.goto(f"{server.url}/console/inbox")
    listed = page.get_by_role("region", name="Conversations").get_by_role("listitem")
    expect(listed).to_have_count(50)
    # Newest first: the first one started is not on the first page.
    expect(listed.first).to_contain_text(f"1555100{CONVERSATIONS - 1:04d}")
    expect(page.get_by_text("15551000000")).to_have_count(0)

    page.get_by_role("button", name="Older conversations").click()
    expect(listed).to_have_count(CONVERSATIONS)
    expect(listed.last).to_contain_text("15551000000")
    expect(page.get_by_role("button", name="Older conversations")).to_have_count(0)
    # The next poll of the first page keeps the older ones listed.
    with page.expect_response(
        lambda r: "/whatsapp/conversations?limit=50" in r.url and "after=" not in r.url
    ):
        pass
    expect(listed).to_have_count(CONVERSATIONS)
