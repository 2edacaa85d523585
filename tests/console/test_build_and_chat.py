"""A person builds a flow from scratch in the editor (send_text, send_interactive with two
buttons, wait, decide, two branches), sees the error of an invalid node, fixes it, saves,
activates, and chats with it in the test chat by clicking a button. Screenshots of each
screen go to docs/screenshots/ (the README's tour)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import BrowserProblems, Server, screenshot


def sign_in(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/")
    page.get_by_label("API key").fill(server.api_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Flows")).to_be_visible()


def add_node(page: Any, label: str, node_id: str) -> Any:
    page.get_by_role("navigation", name="Add a node").get_by_role("button", name=label).click()
    card = page.get_by_test_id(f"node-{node_id}")
    expect(card).to_be_visible()
    return card


def select(page: Any, node_id: str) -> None:
    # The title, not the card's centre: a decide card's centre can be a branch handle,
    # where a click starts a connection instead of selecting the node.
    page.get_by_test_id(f"node-{node_id}").locator(".title").click()
    # The panel of this node, not the previous one's still on screen: a select changed
    # before the panel follows the click would re-point the previous node's edge.
    panel = page.get_by_role("complementary", name="Node settings")
    expect(panel).to_have_attribute("data-node", node_id)


def connect(page: Any, source: str, target: str, label: str = "next") -> None:
    select(page, source)
    page.locator(f"#out-{label}").select_option(target)


def test_build_a_flow_fix_an_error_activate_and_chat(
    page: Any, server: Server, browser_problems: BrowserProblems
) -> None:
    sign_in(page, server)
    page.get_by_label("New flow name").fill("Pizza bot")
    page.get_by_role("button", name="Create flow").click()
    expect(page.get_by_test_id("node-start")).to_be_visible()

    # An invalid node: a text message without text shows its error on the card and field.
    card = add_node(page, "Send Text Message", "send_text_1")
    expect(card.locator(".card-problems")).to_contain_text("message is required")
    expect(page.get_by_test_id("validity")).to_contain_text("error")
    screenshot(page, "editor-error")
    # Activation refuses, listing the problem (a 422 Chromium logs: expected).
    browser_problems.expected.append(422)
    page.get_by_role("button", name="Activate").click()
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("1 problem")
    expect(refusal).to_contain_text("send_text_1")
    refusal.get_by_role("button", name="Dismiss error").click()
    page.get_by_test_id("node-send_text_1").locator(".title").click()
    page.locator("#cfg-message").fill("Welcome to Pizza bot!")
    expect(card.locator(".card-problems")).to_have_count(0)

    add_node(page, "Send Interactive", "send_interactive_1")
    page.locator("#cfg-body_text").fill("Hungry?")
    for index, title in enumerate(["Yes", "No"]):
        page.get_by_role("button", name="Add button").click()
        page.locator(f"#cfg-buttons-{index}-id").fill(title.lower())
        page.locator(f"#cfg-buttons-{index}-title").fill(title)

    add_node(page, "Wait for response", "wait_for_response_1")
    page.locator("#cfg-save_response_to").fill("answer")

    add_node(page, "Decide", "decide_1")
    for index, (label, expression) in enumerate([("yes", "vars.answer == 'Yes'"), ("no", "")]):
        page.get_by_role("button", name="Add condition").click()
        page.locator(f"#cfg-conditions-{index}-label").fill(label)
        if expression:
            page.locator(f"#cfg-conditions-{index}-expression").fill(expression)

    add_node(page, "Send Text Message", "send_text_2")
    page.locator("#cfg-message").fill("Great, a pizza is on its way!")
    add_node(page, "Send Text Message", "send_text_3")
    page.locator("#cfg-message").fill("Maybe later then, you said ")
    # {{vars.x}} from what the graph writes (the wait saves the answer).
    page.get_by_label("Insert a variable").select_option("answer")
    expect(page.locator("#cfg-message")).to_have_value("Maybe later then, you said {{vars.answer}}")

    connect(page, "start", "send_text_1")
    connect(page, "send_text_1", "send_interactive_1")
    connect(page, "send_interactive_1", "wait_for_response_1")
    connect(page, "wait_for_response_1", "decide_1")
    connect(page, "decide_1", "send_text_2", "yes")
    connect(page, "decide_1", "send_text_3", "no")
    page.get_by_role("button", name="Auto-layout").click()
    page.locator(".react-flow__pane").click(position={"x": 5, "y": 5})
    expect(page.get_by_test_id("validity")).to_have_text("✓ valid")

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_have_text("Activated.")
    page.locator(".react-flow__controls-fitview").click()
    screenshot(page, "editor")

    # A reload of the deep link keeps the page (the server answers index.html).
    page.reload()
    expect(page.get_by_test_id("node-decide_1")).to_be_visible()

    page.get_by_role("button", name="Test chat").click()
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_test_id("bot-bubble").first).to_have_text("Welcome to Pizza bot!")
    bubbles = page.get_by_test_id("bot-bubble")
    expect(bubbles).to_have_count(2)
    started = time.monotonic()
    bubbles.nth(1).get_by_role("button", name="Yes").click()
    expect(page.get_by_test_id("user-bubble")).to_have_text("Yes")
    expect(bubbles.nth(2)).to_have_text("Great, a pizza is on its way!")
    reply_seconds = time.monotonic() - started
    expect(page.get_by_test_id("execution-status")).to_have_text("ended")
    expect(page.get_by_role("region", name="Variables")).to_contain_text('"answer": "Yes"')
    screenshot(page, "test-chat")
    print(f"reply after a button click: {reply_seconds * 1000:.0f} ms")

    # The inspector: the events, the context, the path taken drawn on the graph.
    page.get_by_role("button", name="Inspect execution").click()
    expect(page.get_by_test_id("inspector-status")).to_have_text("ended")
    events = page.get_by_role("region", name="Events")
    expect(events).to_contain_text("decision evaluated")
    expect(page.get_by_test_id("node-send_text_2")).to_have_class(re.compile(r"\bvisited\b"))
    expect(page.get_by_test_id("node-send_text_3")).not_to_have_class(re.compile(r"\bvisited\b"))
    expect(page.locator(".react-flow__edge.taken")).to_have_count(5)  # all but "no"
    expect(page.get_by_role("region", name="Context")).to_contain_text("answer")
    screenshot(page, "inspector")
    page.get_by_role("button", name="All executions").click()
    expect(page.get_by_role("row")).to_have_count(2)  # the header and the one execution
    screenshot(page, "executions")

    page.get_by_role("link", name="Flows").click()
    row = page.get_by_role("row").filter(has_text="Pizza bot")
    expect(row).to_contain_text("active")
    screenshot(page, "flows")

    # Phone width: the list becomes one card per flow, every action still reachable.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(row.get_by_role("button", name="Test chat")).to_be_in_viewport()
    screenshot(page, "flows-phone")


def test_undo_redo_conflict_export_then_import(
    page: Any, server: Server, browser_problems: BrowserProblems
) -> None:
    sign_in(page, server)
    page.get_by_label("New flow name").fill("Round trip")
    page.get_by_role("button", name="Create flow").click()
    add_node(page, "Send Text Message", "send_text_1")
    page.locator("#cfg-message").fill("Hello")
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_test_id("node-send_text_1")).to_have_count(0)
    page.get_by_role("button", name="Redo").click()
    expect(page.get_by_test_id("node-send_text_1")).to_contain_text("Hello")
    connect(page, "start", "send_text_1")

    # Someone else renames the flow meanwhile: saving says so, overwriting keeps mine.
    workflow_id = page.url.rsplit("/", 1)[1]
    renamed = httpx.patch(
        f"{server.url}/platform/v1/workflows/{workflow_id}",
        headers={"X-API-Key": server.api_key},
        json={"workflow": {"name": "Round trip"}},
    )
    assert renamed.status_code == 200, renamed.text
    browser_problems.expected.append(409)
    page.get_by_role("button", name="Save").click()
    conflict = page.locator(".conflict")
    expect(conflict).to_contain_text("Changed elsewhere")
    conflict.get_by_role("button", name="Overwrite with mine").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    page.get_by_role("link", name="Flows").click()
    row = page.get_by_role("row").filter(has_text="Round trip")
    with page.expect_download() as download_info:
        row.get_by_role("button", name="Export").click()
    exported = json.loads(Path(download_info.value.path()).read_text())
    assert exported["name"] == "Round trip"
    page.get_by_test_id("import-file").set_input_files(
        files=[
            {
                "name": "Imported.json",
                "mimeType": "application/json",
                "buffer": json.dumps({**exported, "name": "Imported"}).encode(),
            }
        ]
    )
    expect(page.get_by_role("status")).to_contain_text("Imported")
    page.get_by_role("link", name="Imported").click()
    expect(page.get_by_test_id("node-send_text_1")).to_contain_text("Hello")
    assert re.search(r"/console/flows/[^/]+$", page.url)
