"""The agent node's MCP servers (`flow_agent_mcp_servers`) in the editor's generated form:
a server's name, description, url and headers are shown and edited, a second server is
added, and the saved definition holds what was typed (headers as a JSON object). The form
is longer than the window: it scrolls on its own and the graph stays in view (issue 10), on
a laptop and at phone width."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import Server, screenshot
from tests.console.layout import (
    assert_panes_scroll_alone_in_windows,
    assert_stacked_panes_bounded,
    assert_within_viewport,
)
from tests.console.test_build_and_chat import select, sign_in
from tests.console.test_var_autocomplete import _node

SERVER = {
    "name": "orders",
    "description": "The order service",
    "url": "https://mcp.example.com/mcp",
    "headers": {"Authorization": "Bearer ${ENV:ORDERS_MCP_TOKEN}"},
}
AGENT = {
    "system_prompt": "You help with orders.",
    "provider_model_name": "fake",
    "flow_agent_mcp_servers": [SERVER],
}
GRAPH = {
    "nodes": [_node("start", "start", 0), _node("helper", "agent", 160, **AGENT)],
    "edges": [{"source": "start", "target": "helper", "label": "next"}],
}


def test_mcp_servers_are_edited_in_the_agent_form(page: Any, server: Server) -> None:
    with httpx.Client(
        base_url=f"{server.url}/platform/v1", headers={"X-API-Key": server.api_key}
    ) as http:
        created = http.post("/workflows", json={"workflow": {"name": "MCP", "definition": GRAPH}})
        assert created.status_code == 201, created.text
        workflow_id = created.json()["data"]["id"]

        sign_in(page, server)
        page.goto(f"{server.url}/console/flows/{workflow_id}")
        select(page, "helper")
        servers = page.get_by_role("group", name="MCP servers")
        field = "#cfg-flow_agent_mcp_servers"
        # The stored server, field by field; headers as a JSON object.
        expect(page.locator(f"{field}-0-name")).to_have_value("orders")
        expect(page.locator(f"{field}-0-description")).to_have_value("The order service")
        expect(page.locator(f"{field}-0-url")).to_have_value(SERVER["url"])
        headers = page.locator(f"{field}-0-headers")
        expect(headers).to_have_value('{\n  "Authorization": "Bearer ${ENV:ORDERS_MCP_TOKEN}"\n}')
        # A second server, added and filled in with the keyboard.
        servers.get_by_role("button", name="Add MCP server").click()
        page.locator(f"{field}-1-name").fill("crm")
        page.locator(f"{field}-1-url").fill("https://crm.example.com/mcp")
        second = page.locator(f"{field}-1-headers")
        second.fill('{"X-Api-Key": "${ENV:CRM_KEY}"}')
        second.press("Tab")  # a JSON field takes its value when it loses the focus
        side = page.get_by_role("complementary", name="Node settings")
        canvas = page.locator(".canvas")
        assert_panes_scroll_alone_in_windows(page, side, canvas)
        servers.scroll_into_view_if_needed()
        assert_within_viewport(page, canvas)
        screenshot(page, "editor-agent-mcp")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("Saved.")

        saved = http.get(f"/workflows/{workflow_id}/definition").json()["data"]
        [agent] = [n for n in saved["definition"]["nodes"] if n["id"] == "helper"]
        assert agent["data"]["config"]["flow_agent_mcp_servers"] == [
            SERVER,
            {
                "name": "crm",
                "url": "https://crm.example.com/mcp",
                "headers": {"X-Api-Key": "${ENV:CRM_KEY}"},
            },
        ]
        page.set_viewport_size({"width": 390, "height": 844})
        assert_stacked_panes_bounded(page, side, canvas)
        side.scroll_into_view_if_needed()
        screenshot(page, "editor-agent-mcp-phone")
