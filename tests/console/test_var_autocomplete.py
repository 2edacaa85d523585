"""`{{vars.x}}` autocompletion while typing in a templated field: `{{` opens a list of the
variables the graph writes (a wait's `save_response_to` and `last_user_*`, a
set_variable's name), narrowed by what follows; the keyboard picks and inserts, Escape
closes, and the field keeps its focus and caret throughout."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import Server, screenshot
from tests.console.test_build_and_chat import select, sign_in


def _node(node_id: str, node_type: str, y: int, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "flow-node",
        "position": {"x": 0, "y": y},
        "data": {"node_type": node_type, "config": config},
    }


GRAPH = {
    "nodes": [
        _node("start", "start", 0),
        _node("ask", "wait_for_response", 160, save_response_to="answer"),
        _node("where", "set_variable", 320, variable_name="city", variable_value="Lima"),
        _node("reply", "send_text", 480, message="Thanks"),
    ],
    "edges": [
        {"source": "start", "target": "ask", "label": "next"},
        {"source": "ask", "target": "where", "label": "next"},
        {"source": "where", "target": "reply", "label": "next"},
    ],
}


def test_typing_braces_suggests_the_graphs_variables(page: Any, server: Server) -> None:
    with httpx.Client(
        base_url=f"{server.url}/platform/v1", headers={"X-API-Key": server.api_key}
    ) as http:
        body = {"workflow": {"name": "Autocomplete", "definition": GRAPH}}
        created = http.post("/workflows", json=body)
        assert created.status_code == 201, created.text
        workflow_id = created.json()["data"]["id"]

    sign_in(page, server)
    page.goto(f"{server.url}/console/flows/{workflow_id}")
    select(page, "reply")
    message = page.locator("#cfg-message")
    suggestions = page.get_by_role("listbox", name="Variables")
    message.click()
    message.press("End")
    expect(suggestions).to_have_count(0)
    expect(message).to_have_attribute("aria-expanded", "false")

    message.press_sequentially(", {{")
    expect(message).to_have_attribute("aria-expanded", "true")
    options = suggestions.get_by_role("option")
    expect(options).to_have_text(
        ["vars.answer", "vars.city", "vars.last_user_input", "vars.last_user_message"]
    )
    expect(options.first).to_have_attribute("aria-selected", "true")
    screenshot(page, "editor-autocomplete")

    # Narrowed by what is typed; Enter inserts and closes, the caret after the token.
    message.press_sequentially("ci")
    expect(options).to_have_text(["vars.city"])
    message.press("Enter")
    expect(message).to_have_value("Thanks, {{vars.city}}")
    expect(suggestions).to_have_count(0)
    message.press_sequentially(" and ")
    expect(message).to_have_value("Thanks, {{vars.city}} and ")

    # Arrows move the choice (the field keeps the focus: aria-activedescendant), Tab inserts.
    message.press_sequentially("{{vars.")
    expect(options).to_have_count(4)
    message.press("ArrowDown")
    message.press("ArrowDown")
    expect(options.nth(2)).to_have_attribute("aria-selected", "true")
    active = options.nth(2).get_attribute("id")
    expect(message).to_have_attribute("aria-activedescendant", active or "")
    message.press("ArrowUp")
    message.press("Tab")
    expect(message).to_have_value("Thanks, {{vars.city}} and {{vars.city}}")
    expect(message).to_be_focused()

    # Escape closes without inserting; a click on an option inserts it.
    message.press_sequentially(" {{")
    expect(options).to_have_count(4)
    message.press("Escape")
    expect(suggestions).to_have_count(0)
    expect(message).to_have_value("Thanks, {{vars.city}} and {{vars.city}} {{")
    message.press_sequentially("ans")
    suggestions.get_by_role("option", name="vars.answer").click()
    expect(message).to_have_value("Thanks, {{vars.city}} and {{vars.city}} {{vars.answer}}")

    # The card shows the edited message: the value went into the graph.
    expect(page.get_by_test_id("node-reply")).to_contain_text("{{vars.answer}}")
