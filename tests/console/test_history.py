"""The editor's version history: two saves make two versions; the panel lists them, the
diff of the two names the node whose message changed and the node added; "Restore" of the
first saves its definition as the newest version, and the canvas shows it."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import Server, screenshot
from tests.console.test_build_and_chat import sign_in


def _node(node_id: str, node_type: str, config: dict[str, Any], y: int) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "flow-node",
        "position": {"x": 0, "y": y},
        "data": {"node_type": node_type, "config": config},
    }


def _definition(text: str, extra: bool) -> dict[str, Any]:
    nodes = [_node("start", "start", {}, 0), _node("hello", "send_text", {"message": text}, 160)]
    edges = [{"source": "start", "target": "hello", "label": "next"}]
    if extra:
        nodes.append(_node("bye", "send_text", {"message": "Bye"}, 320))
        edges.append({"source": "hello", "target": "bye", "label": "next"})
    return {"nodes": nodes, "edges": edges}


def test_history_diff_and_restore(page: Any, server: Server) -> None:
    http = httpx.Client(base_url=f"{server.url}/platform/v1", headers={"X-API-Key": server.api_key})
    body = {"workflow": {"name": "Versions", "definition": _definition("Hello", extra=False)}}
    created = http.post("/workflows", json=body)
    assert created.status_code == 201, created.text
    workflow = created.json()["data"]
    second = {"definition": _definition("Hi there", extra=True), "lock_version": 0}
    assert http.patch(f"/workflows/{workflow['id']}", json={"workflow": second}).status_code == 200

    sign_in(page, server)
    page.goto(f"{server.url}/console/flows/{workflow['id']}")
    expect(page.get_by_test_id("node-hello")).to_contain_text("Hi there")
    page.get_by_role("button", name="History").click()
    panel = page.get_by_role("complementary", name="Version history")
    expect(panel.locator(".versions li")).to_have_count(2)
    changes = panel.get_by_role("list", name="Changes")
    expect(changes).to_contain_text("changed node hello: message")
    expect(changes).to_contain_text("added node bye (send_text)")
    expect(changes).to_contain_text("added edge hello —next→ bye")
    screenshot(page, "editor-history")

    panel.get_by_role("button", name="Restore version 1").click()
    expect(page.get_by_role("status")).to_contain_text("Restored version 1")
    expect(page.get_by_test_id("node-hello")).to_contain_text("Hello")
    expect(page.get_by_test_id("node-bye")).to_have_count(0)
    expect(panel.locator(".versions li")).to_have_count(3)
    expect(panel.locator(".versions li").first).to_contain_text("v3 (current)")
    current = http.get(f"/workflows/{workflow['id']}/definition").json()["data"]["definition"]
    assert [n["id"] for n in current["nodes"]] == ["start", "hello"]
    assert current["nodes"][1]["data"]["config"]["message"] == "Hello"
    http.close()
