"""The inbox and the settings, in a browser against a real `convoflow serve` that talks
to the fake WhatsApp Graph API (`convoflow fake-meta`, its own process on loopback):
connect a number in Settings, a user writes, the flow hands the conversation off, a
person replies from the inbox (delivery ticks follow the fake's status webhooks) and
returns the conversation to the flow; create an API key (shown once) and revoke it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.console.conftest import (
    BrowserProblems,
    Server,
    free_port,
    running_server,
    screenshot,
    wait_until_up,
)
from tests.console.test_build_and_chat import sign_in

P = "/platform/v1"
NUMBER = "100000000000001"  # the fake's default business number
APP_SECRET = "console-app-secret"
USER = "15550002222"


def node(node_id: str, node_type: str, config: dict[str, Any], y: int) -> dict[str, Any]:
    data = {"node_type": node_type, "config": config}
    return {"id": node_id, "type": "flow-node", "position": {"x": 0, "y": y}, "data": data}


HANDOFF_FLOW = {
    "nodes": [
        node("start", "start", {}, 0),
        node("hello", "send_text", {"message": "Connecting you to a person."}, 120),
        node("human", "handoff", {"reason": "asked for a person"}, 240),
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "hello", "label": "next"},
        {"id": "e2", "source": "hello", "target": "human", "label": "next"},
    ],
}


@pytest.fixture(scope="module")
def fake_meta_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The fake Graph API, posting webhooks to the port the server will listen on."""
    folder = tmp_path_factory.mktemp("fake-meta")
    fake_port, server_port = free_port(), free_port()
    log_path = folder / "fake.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "convoflow",
            "fake-meta",
            "--port",
            str(fake_port),
            "--webhook-url",
            f"http://127.0.0.1:{server_port}/webhooks/whatsapp",
            "--app-secret",
            APP_SECRET,
            "--status-delay",
            "0.2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{fake_port}"
    try:
        wait_until_up(f"{url}/_fake/sent", process, log_path)
        yield url, server_port
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def wa_server(
    tmp_path_factory: pytest.TempPathFactory, fake_meta_url: tuple[str, int]
) -> Iterator[Server]:
    fake_url, port = fake_meta_url
    extra = {"CONVOFLOW_GRAPH_BASE_URL": f"{fake_url}/v23.0"}
    with running_server(tmp_path_factory.mktemp("console-wa"), extra, port) as running:
        yield running


def handoff_workflow(server: Server) -> None:
    """An active flow started by any message to the number: greets, then hands off."""
    headers = {"X-API-Key": server.api_key}
    with httpx.Client(base_url=f"{server.url}{P}", headers=headers, timeout=30) as client:
        created = client.post(
            "/workflows", json={"workflow": {"name": "Support", "definition": HANDOFF_FLOW}}
        )
        assert created.status_code == 201, created.text
        workflow_id = created.json()["data"]["id"]
        trigger = {"trigger": {"trigger_type": "inbound_message", "phone_number_id": NUMBER}}
        answer = client.post(f"/workflows/{workflow_id}/triggers", json=trigger)
        assert answer.status_code == 201, answer.text
        answer = client.patch(f"/workflows/{workflow_id}", json={"workflow": {"status": "active"}})
        assert answer.status_code == 200, answer.text


def test_connect_a_number_hand_off_and_reply_from_the_inbox(
    page: Any, wa_server: Server, fake_meta_url: tuple[str, int]
) -> None:
    sign_in(page, wa_server)
    page.get_by_role("link", name="Settings").click()
    numbers = page.get_by_role("region", name="WhatsApp numbers")
    expect(numbers).to_contain_text("No number connected yet")
    expect(numbers).to_contain_text(f"{wa_server.url}/webhooks/whatsapp")
    page.get_by_label("Phone number id").fill(NUMBER)
    page.get_by_label("Access token").fill("EAAG-console-token")
    page.get_by_label("App secret").fill(APP_SECRET)
    page.get_by_label("Webhook verify token").fill("console-verify")
    page.get_by_role("button", name="Connect").click()
    expect(numbers).to_contain_text("Number connected")
    expect(numbers.locator("table")).to_contain_text(NUMBER)
    screenshot(page, "settings")

    handoff_workflow(wa_server)
    message = {"from": USER, "name": "Ana", "text": "I need a person"}
    said = httpx.post(f"{fake_meta_url[0]}/_fake/inbound", json=message, timeout=30)
    assert said.status_code == 200 and said.json()["data"]["webhook_status"] == 200, said.text

    page.get_by_role("link", name="Inbox").click()
    page.get_by_role("button", name="In handoff").click()
    conversations = page.get_by_role("region", name="Conversations")
    entry = conversations.get_by_role("link", name="Ana")
    expect(entry).to_contain_text("handoff")
    entry.click()
    thread = page.get_by_role("region", name="Conversation", exact=True)
    expect(thread).to_contain_text("I need a person")
    expect(thread).to_contain_text("Connecting you to a person.")
    page.get_by_label("Reply").fill("Hi Ana, Maria here. How can I help?")
    page.get_by_role("button", name="Send").click()
    reply = thread.locator(".bubble.outbound", has_text="Maria here")
    expect(reply).to_be_visible()
    # The fake sends sent -> delivered -> read status webhooks: the ticks follow.
    expect(reply.get_by_label("read")).to_be_visible()
    sent = httpx.get(f"{fake_meta_url[0]}/_fake/sent", timeout=30).json()
    assert any("Maria here" in str(item) for item in sent["data"]), sent
    screenshot(page, "inbox")

    page.get_by_role("button", name="Return to flow").click()
    expect(thread.locator(".toolbar .badge")).to_have_text("waiting")
    page.get_by_role("button", name="Waiting").click()
    expect(conversations.get_by_role("link", name="Ana")).to_contain_text("waiting")
    page.get_by_role("button", name="In handoff").click()
    expect(conversations).to_contain_text("No conversations in handoff")
    page.get_by_role("button", name="End", exact=True).click()
    expect(thread.locator(".toolbar .badge")).to_have_text("ended")

    # At phone width the list and the conversation stack; the reply box stays in reach.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name="All", exact=True).click()
    expect(page.get_by_label("Reply")).to_be_visible()
    page.get_by_label("Reply").scroll_into_view_if_needed()
    screenshot(page, "inbox-phone")


def test_create_and_revoke_an_api_key(
    page: Any, wa_server: Server, browser_problems: BrowserProblems
) -> None:
    sign_in(page, wa_server)
    page.goto(f"{wa_server.url}/console/settings")
    keys = page.get_by_role("region", name="API keys")
    expect(keys.get_by_role("table")).to_contain_text("active")  # the keys have loaded
    keys.get_by_label("Name", exact=True).fill("ci robot")
    keys.get_by_role("button", name="Create key").click()
    expect(keys).to_contain_text("Key created")
    key = keys.get_by_test_id("new-key").inner_text()
    assert key and key != wa_server.api_key
    # The new key works, and is not shown again after "Done" or a reload.
    listed = httpx.get(f"{wa_server.url}{P}/api_keys", headers={"X-API-Key": key}, timeout=30)
    assert listed.status_code == 200, listed.text
    row = keys.get_by_role("row", name="ci robot")
    expect(row).to_contain_text("active")
    screenshot(page, "settings-keys")
    keys.get_by_role("button", name="Done").click()
    expect(keys.get_by_test_id("new-key")).to_have_count(0)

    row.get_by_role("button", name="Revoke ci robot").click()
    expect(row).to_contain_text("revoked")
    refused = httpx.get(f"{wa_server.url}{P}/api_keys", headers={"X-API-Key": key}, timeout=30)
    assert refused.status_code == 401, refused.text
    assert browser_problems.seen == []


def test_add_a_webhook_send_a_test_and_read_the_delivery_log(
    page: Any, wa_server: Server, fake_meta_url: tuple[str, int]
) -> None:
    sign_in(page, wa_server)
    page.goto(f"{wa_server.url}/console/settings")
    hooks = page.get_by_role("region", name="Project webhooks")
    expect(hooks).to_contain_text("No webhooks")
    # A loopback URL (the fake Graph API's, which would answer 404).
    target = f"{fake_meta_url[0]}/hooks/convoflow"
    page.get_by_label("URL", exact=True).fill(target)
    page.get_by_role("button", name="Add webhook").click()
    expect(hooks).to_contain_text("Webhook added")
    expect(hooks.get_by_role("listitem")).to_contain_text(target)
    hooks.get_by_role("button", name="Send test").click()
    expect(hooks).to_contain_text("Test delivery queued")
    log = hooks.get_by_role("table")
    for _ in range(75):  # the worker delivers in the background: refresh until it tried
        hooks.get_by_role("button", name="Refresh").click()
        if log.count() and target in log.inner_text() and "pending" not in log.inner_text():
            break
        page.wait_for_timeout(200)
    expect(log).to_contain_text(target)
    # The project does not allow private-network URLs: the delivery failed, and says why.
    expect(log.get_by_role("cell", name="failed", exact=True)).to_be_visible()
    expect(log).to_contain_text("private")
    screenshot(page, "settings-webhooks")


def ensure_number(server: Server) -> None:
    """The fake's number connected to the project (the first test connects it in the page)."""
    headers = {"X-API-Key": server.api_key}
    with httpx.Client(base_url=f"{server.url}{P}", headers=headers, timeout=30) as client:
        listed = client.get("/whatsapp/phone_numbers").json()["data"]
        if any(n["phone_number_id"] == NUMBER for n in listed):
            return
        fields = {
            "phone_number_id": NUMBER,
            "access_token": "EAAG-console-token",
            "app_secret": APP_SECRET,
            "verify_token": "console-verify",
        }
        answer = client.post("/whatsapp/phone_numbers", json={"whatsapp_phone_number": fields})
        assert answer.status_code == 201, answer.text


def api_get(server: Server, path: str) -> dict[str, Any]:
    answer = httpx.get(f"{server.url}{P}{path}", headers={"X-API-Key": server.api_key}, timeout=30)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["data"]
    return found


def test_edit_deactivate_and_activate_a_number(page: Any, wa_server: Server) -> None:
    ensure_number(wa_server)
    sign_in(page, wa_server)
    page.goto(f"{wa_server.url}/console/settings")
    numbers = page.get_by_role("region", name="WhatsApp numbers")
    row = numbers.get_by_role("row").filter(has_text=NUMBER)
    expect(row).to_contain_text("active")

    row.get_by_role("button", name=f"Edit {NUMBER}").click()
    form = numbers.get_by_role("form", name=f"Edit number {NUMBER}")
    form.get_by_label("Name").fill("Support line")
    screenshot(page, "settings-edit-number")
    form.get_by_role("button", name="Save number").click()
    expect(numbers).to_contain_text("Number saved.")
    expect(form).to_have_count(0)
    expect(row).to_contain_text("Support line")
    assert api_get(wa_server, f"/whatsapp/phone_numbers/{NUMBER}")["name"] == "Support line"

    row.get_by_role("button", name=f"Deactivate {NUMBER}").click()
    expect(numbers).to_contain_text("Number deactivated")
    expect(row.locator(".badge")).to_have_text("inactive")
    stored = api_get(wa_server, f"/whatsapp/phone_numbers/{NUMBER}")
    assert stored["inbound_processing_enabled"] is False

    row.get_by_role("button", name=f"Activate {NUMBER}", exact=True).click()
    expect(numbers).to_contain_text("Number activated")
    expect(row.locator(".badge")).to_have_text("active")
    stored = api_get(wa_server, f"/whatsapp/phone_numbers/{NUMBER}")
    assert stored["inbound_processing_enabled"] is True


def _edit_new_webhook(page: Any, wa_server: Server, hook: dict[str, Any]) -> tuple[str, Any, Any]:
    """Creates `hook` through the API, opens Settings and its Edit form: (id, section, form)."""
    created = httpx.post(
        f"{wa_server.url}{P}/whatsapp/webhooks",
        headers={"X-API-Key": wa_server.api_key},
        json={"whatsapp_webhook": hook},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    sign_in(page, wa_server)
    page.goto(f"{wa_server.url}/console/settings")
    hooks = page.get_by_role("region", name="Project webhooks")
    item = hooks.get_by_role("listitem").filter(has_text=hook["url"])
    item.get_by_role("button", name="Edit").click()
    form = item.get_by_role("form", name="Edit the webhook")
    return str(created.json()["data"]["id"]), hooks, form


def test_edit_deactivate_and_activate_a_webhook(page: Any, wa_server: Server) -> None:
    hook = {"url": "https://hooks.example.org/first", "events": ["whatsapp.message.received"]}
    hook_id, hooks, form = _edit_new_webhook(page, wa_server, hook)
    item = hooks.get_by_role("listitem").filter(has_text="hooks.example.org")
    expect(form.get_by_label("Webhook URL")).to_have_value("https://hooks.example.org/first")
    form.get_by_label("Webhook URL").fill("https://hooks.example.org/second")
    form.get_by_label("Webhook events (comma-separated)").fill(
        "whatsapp.message.received, whatsapp.message.sent"
    )
    form.get_by_role("button", name="Save webhook").click()
    expect(hooks).to_contain_text("Webhook saved.")
    expect(item).to_contain_text("https://hooks.example.org/second")
    stored = api_get(wa_server, f"/whatsapp/webhooks/{hook_id}")
    assert stored["url"] == "https://hooks.example.org/second"
    assert stored["events"] == ["whatsapp.message.received", "whatsapp.message.sent"]

    item.get_by_role("button", name="Deactivate", exact=True).click()
    expect(hooks).to_contain_text("Webhook deactivated")
    expect(item.locator(".badge")).to_have_text("inactive")
    assert api_get(wa_server, f"/whatsapp/webhooks/{hook_id}")["active"] is False
    item.get_by_role("button", name="Activate", exact=True).click()
    expect(hooks).to_contain_text("Webhook activated")
    expect(item.locator(".badge")).to_have_count(0)
    assert api_get(wa_server, f"/whatsapp/webhooks/{hook_id}")["active"] is True


def test_changing_a_webhook_url_asks_for_its_headers_again(page: Any, wa_server: Server) -> None:
    """The API refuses a URL change that would carry the stored (masked) custom headers to
    the new URL; the Edit form asks for their values again, or removes them."""
    hook = {
        "url": "https://hooks.example.org/with-headers",
        "events": ["whatsapp.message.received"],
        "headers": {"Authorization": "Bearer old"},
    }
    hook_id, hooks, form = _edit_new_webhook(page, wa_server, hook)
    save = form.get_by_role("button", name="Save webhook")
    expect(form.get_by_label("Value of Authorization")).to_have_count(0)
    form.get_by_label("Webhook URL").fill("https://hooks.example.org/moved")
    expect(form).to_contain_text("type the value of each custom header again")
    expect(save).to_be_disabled()
    form.get_by_label("Value of Authorization").fill("Bearer new")
    screenshot(page, "settings-webhook-url-headers")
    save.click()
    expect(hooks).to_contain_text("Webhook saved.")
    stored = api_get(wa_server, f"/whatsapp/webhooks/{hook_id}")
    assert stored["url"] == "https://hooks.example.org/moved"
    assert stored["headers"] == {"Authorization": "********"}

    item = hooks.get_by_role("listitem").filter(has_text="moved")
    item.get_by_role("button", name="Edit").click()
    form = item.get_by_role("form", name="Edit the webhook")
    form.get_by_label("Webhook URL").fill("https://hooks.example.org/again")
    form.get_by_label("Remove the custom headers").check()
    form.get_by_role("button", name="Save webhook").click()
    expect(hooks).to_contain_text("Webhook saved.")
    stored = api_get(wa_server, f"/whatsapp/webhooks/{hook_id}")
    assert (stored["url"], stored["headers"]) == ("https://hooks.example.org/again", {})
