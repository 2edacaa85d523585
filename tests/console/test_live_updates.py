"""Live updates in the console (server-sent events, docs/console.md): the test chat, the
inspector and the inbox show what another client did without asking again (one stream
request each, no polling), and a chat whose stream is refused says so once and polls."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import BrowserProblems, Server
from tests.console.test_build_and_chat import sign_in

ECHO = {
    "nodes": [
        {"id": "start", "data": {"node_type": "start", "config": {}}},
        {"id": "ask", "data": {"node_type": "send_text", "config": {"message": "Say something"}}},
        {
            "id": "wait",
            "data": {"node_type": "wait_for_response", "config": {"save_response_to": "said"}},
        },
        {
            "id": "echo",
            "data": {"node_type": "send_text", "config": {"message": "you said {{vars.said}}"}},
        },
    ],
    "edges": [
        {"source": "start", "target": "ask", "label": "next"},
        {"source": "ask", "target": "wait", "label": "next"},
        {"source": "wait", "target": "echo", "label": "next"},
        {"source": "echo", "target": "wait", "label": "next"},
    ],
}


def _api(server: Server) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/platform/v1", headers={"X-API-Key": server.api_key}, timeout=30
    )


def _echo_flow(server: Server, name: str) -> str:
    with _api(server) as http:
        workflow = http.post("/workflows", json={"workflow": {"name": name, "definition": ECHO}})
        workflow_id = str(workflow.json()["data"]["id"])
        trigger = {"trigger": {"trigger_type": "api_call"}}
        assert http.post(f"/workflows/{workflow_id}/triggers", json=trigger).is_success
        activate = {"workflow": {"status": "active"}}
        assert http.patch(f"/workflows/{workflow_id}", json=activate).status_code == 200
        return workflow_id


def _start(server: Server, workflow_id: str, phone: str) -> tuple[str, str]:
    """(execution id, conversation id) of a new sandbox execution started by the API."""
    with _api(server) as http:
        body = {"workflow_execution": {"phone_number": phone, "context": {"channel": "sandbox"}}}
        execution_id = http.post(f"/workflows/{workflow_id}/executions", json=body).json()["data"][
            "id"
        ]
        detail = http.get(f"/workflow_executions/{execution_id}").json()["data"]
        return str(execution_id), str(detail["whatsapp_conversation_id"])


def _latest_conversation(server: Server, workflow_id: str) -> str:
    with _api(server) as http:
        page = http.get(f"/workflows/{workflow_id}/executions", params={"limit": 1}).json()
        return str(page["data"][0]["whatsapp_conversation_id"])


def _say(server: Server, conversation_id: str, text: str) -> None:
    with _api(server) as http:
        said = http.post(f"/sandbox/conversations/{conversation_id}/messages", json={"text": text})
        assert said.status_code == 202, said.text


def test_the_test_chat_follows_its_stream(page: Any, server: Server) -> None:
    workflow_id = _echo_flow(server, "Live echo")
    sign_in(page, server)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(f"{request.method} {request.url}"))
    page.goto(f"{server.url}/console/flows/{workflow_id}/chat")
    page.get_by_role("button", name="Start chat").click()
    bot = page.get_by_test_id("bot-bubble")
    expect(bot.first).to_have_text("Say something")

    # Another client speaks in the chat: the page shows it without asking.
    conversation_id = _latest_conversation(server, workflow_id)
    _say(server, conversation_id, "from outside")
    expect(bot.nth(1)).to_have_text("you said from outside")
    expect(page.get_by_test_id("user-bubble")).to_have_text("from outside")
    page.get_by_label("Message").fill("and from here")
    page.get_by_role("button", name="Send").click()
    expect(bot.nth(2)).to_have_text("you said and from here")
    expect(page.get_by_text(re.compile('"said": "and from here"'))).to_be_visible()

    transcript = f"GET {server.url}/platform/v1/sandbox/conversations/{conversation_id}/messages"
    stream = f"GET {server.url}/platform/v1/sandbox/conversations/{conversation_id}/events/stream"
    assert requests.count(transcript) == 1, "read once when the chat starts, then streamed"
    assert requests.count(stream) == 1
    assert not [r for r in requests if "/workflow_executions/" in r and r.startswith("GET")][1:]


def test_a_refused_stream_falls_back_to_polling(
    page: Any, server: Server, browser_problems: BrowserProblems
) -> None:
    workflow_id = _echo_flow(server, "Echo without a stream")
    refusal = '{"error": "streams are switched off here"}'
    page.route(
        re.compile(r".*/events/stream$"),
        lambda route: route.fulfill(status=404, content_type="application/json", body=refusal),
    )
    browser_problems.expected.append(404)  # Chromium logs the refused stream
    sign_in(page, server)
    page.goto(f"{server.url}/console/flows/{workflow_id}/chat")
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_role("status")).to_have_text(
        "Live updates stopped (streams are switched off here); refreshing every few seconds "
        "instead."
    )
    page.get_by_label("Message").fill("hello")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("bot-bubble").nth(1)).to_have_text("you said hello")


def test_the_inspector_and_the_inbox_follow_their_streams(page: Any, server: Server) -> None:
    workflow_id = _echo_flow(server, "Inspected echo")
    execution_id, conversation_id = _start(server, workflow_id, "+15550007001")
    sign_in(page, server)
    page.goto(f"{server.url}/console/executions/{execution_id}")
    received = page.locator(".event.user_input_received")
    expect(page.get_by_test_id("inspector-status")).to_have_text("waiting")
    expect(received).to_have_count(0)
    _say(server, conversation_id, "inspect me")
    expect(received).to_have_count(1)
    expect(received).to_contain_text("inspect me")
    expect(page.locator(".vars")).to_contain_text("inspect me")

    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{server.url}/console/inbox")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    _, newcomer = _start(server, workflow_id, "+15550007002")
    row = page.get_by_role("link", name=re.compile("15550007002"))
    expect(row).to_be_visible()  # a conversation that began after the page loaded
    row.click()
    thread = page.get_by_role("region", name="Conversation", exact=True)
    expect(thread).to_contain_text("Say something")
    _say(server, newcomer, "hello inbox")
    expect(thread).to_contain_text("you said hello inbox")
    lists = [url for url in requests if "/whatsapp/conversations?" in url]
    reads = [url for url in requests if "/whatsapp/messages?" in url]
    assert len(lists) == 1 and len(reads) == 1, "read once, then streamed"


def _settled_events(server: Server, execution_id: str) -> list[dict[str, Any]]:
    """The execution's events once it waits and nothing more is being added (the worker
    sends the echo after the resume answered)."""
    previous: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    with _api(server) as http:
        while True:
            detail = http.get(f"/workflow_executions/{execution_id}").json()["data"]
            events: list[dict[str, Any]] = detail["events"]
            if detail["status"] == "waiting" and events == previous:
                return events
            assert time.monotonic() < deadline, "the execution did not settle"
            previous = events
            time.sleep(0.3)


def test_the_inspector_streams_only_what_follows_the_events_it_read(
    page: Any, server: Server
) -> None:
    """The inspector reads the execution, then opens its stream after the newest event it
    holds (its `sequence` as Last-Event-ID): it used to send none, so the server replayed
    the whole timeline and the page compared each event with every one it held."""
    workflow_id = _echo_flow(server, "Resumed echo")
    execution_id, conversation_id = _start(server, workflow_id, "+15550007003")
    _say(server, conversation_id, "first")
    before = _settled_events(server, execution_id)
    assert [event["sequence"] for event in before] == list(range(1, len(before) + 1))
    sign_in(page, server)
    stream_path = f"/platform/v1/workflow_executions/{execution_id}/events/stream"
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if r.url.endswith(stream_path) else None)
    with page.expect_request(lambda r: r.url.endswith(stream_path)) as opened:
        page.goto(f"{server.url}/console/executions/{execution_id}")
    assert opened.value.headers.get("last-event-id") == str(before[-1]["sequence"])
    timeline = page.locator("section.timeline > ol > li.event")
    expect(timeline).to_have_count(len(before))

    # What happens next arrives by the stream, once each.
    _say(server, conversation_id, "second")
    after = _settled_events(server, execution_id)
    assert len(after) > len(before)
    expect(page.locator(".event.user_input_received")).to_have_count(2)
    expect(timeline).to_have_count(len(after))
    expect(timeline.last).to_contain_text(after[-1]["event_type"].replace("_", " "))
    assert len(streams) == 1, "one stream, never reopened"


def test_a_stream_refused_with_429_polls_and_comes_back(
    page: Any, server: Server, browser_problems: BrowserProblems
) -> None:
    """Too many streams open (the key's or the project's cap) is not final: the chat polls
    meanwhile, says so, and opens its stream again after Retry-After; once it is live the
    notice goes and replies arrive by the stream."""
    workflow_id = _echo_flow(server, "Echo with a busy stream")
    refusal = '{"error": "Too many live streams open for this API key"}'
    refused: list[str] = []

    def busy_twice(route: Any) -> None:
        if len(refused) < 2:
            refused.append(route.request.url)
            route.fulfill(
                status=429,
                content_type="application/json",
                body=refusal,
                headers={"Retry-After": "1"},
            )
        else:
            route.continue_()

    page.route(re.compile(r".*/events/stream$"), busy_twice)
    browser_problems.expected.extend([429, 429])  # Chromium logs each refused stream
    sign_in(page, server)
    page.goto(f"{server.url}/console/flows/{workflow_id}/chat")
    page.get_by_role("button", name="Start chat").click()
    notice = page.get_by_role("status")
    expect(notice).to_have_text(
        "Live updates paused (Too many live streams open for this API key); refreshing every "
        "few seconds until they resume."
    )
    # Polling meanwhile: the conversation goes on.
    page.get_by_label("Message").fill("while busy")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("bot-bubble").nth(1)).to_have_text("you said while busy")
    # The third try is let through: live again, the notice gone, and what another client
    # says arrives by the stream.
    expect(notice).to_have_count(0, timeout=15_000)
    assert len(refused) == 2
    _say(server, _latest_conversation(server, workflow_id), "from outside")
    expect(page.get_by_test_id("bot-bubble").nth(2)).to_have_text("you said from outside")


def test_the_inspector_shows_only_the_execution_it_is_moved_to(page: Any, server: Server) -> None:
    """Moving from one execution's inspector to another's (the address changes, the page
    stays) starts afresh: none of the first one's events (its newer ones would be merged
    into the second's) is shown. A guard: App.tsx already keys the page by the execution
    id, and the Inspector is now keyed by it too, so this passed before as well."""
    workflow_id = _echo_flow(server, "Two inspected echoes")
    longer, conversation_id = _start(server, workflow_id, "+15550007011")
    for text in ("one", "two", "three"):
        _say(server, conversation_id, text)
    many = _settled_events(server, longer)
    shorter, _ = _start(server, workflow_id, "+15550007012")
    few = _settled_events(server, shorter)
    assert len(few) < len(many)
    sign_in(page, server)
    page.goto(f"{server.url}/console/executions/{longer}")
    expect(page.locator(".event")).to_have_count(len(many))
    # The console's own navigation (router.ts): history.pushState and a popstate event.
    page.evaluate(
        """(path) => {
            window.history.pushState(null, "", path);
            window.dispatchEvent(new PopStateEvent("popstate"));
        }""",
        f"/console/executions/{shorter}",
    )
    expect(page.locator(".event")).to_have_count(len(few))
    expect(page.locator(".event.user_input_received")).to_have_count(0)
