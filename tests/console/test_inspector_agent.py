"""The inspector's agent turns, against the fake LLM (`convoflow fake-llm`, its own
process on loopback): an agent saves a variable, asks the user, waits, then completes on
the reply; the inspector lists each model turn with its model, tokens and latency, and
each tool call with its arguments and the result the model read."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import (
    free_port,
    running_server,
    screenshot,
    start_on_sandbox,
    wait_until_up,
)
from tests.console.layout import assert_panes_scroll_alone_in_windows
from tests.console.test_build_and_chat import sign_in

RULES = """\
rules:
  - contains: "A-42"
    tool_call: {name: complete_task, arguments: {summary: "refund for order A-42"}}
  - contains: "sent"
    tool_call: {name: enter_waiting, arguments: {reason: "need the order number"}}
  - contains: "saved vars.topic"
    tool_call: {name: send_notification_to_user, arguments: {message: "Which order?"}}
  - tool_call: {name: save_variable, arguments: {name: topic, value: refund}}
"""


def _node(node_id: str, node_type: str, y: int, **config: Any) -> dict[str, Any]:
    data = {"node_type": node_type, "config": config}
    return {"id": node_id, "type": "flow-node", "position": {"x": 0, "y": y}, "data": data}


AGENT_FLOW = {
    "nodes": [
        _node("start", "start", 0),
        _node("helper", "agent", 120, system_prompt="You handle refunds.",
              provider_model_name="fake", max_iterations=10),
        _node("done", "send_text", 240, message="Refund noted: {{vars.topic}}"),
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "helper", "label": "next"},
        {"id": "e2", "source": "helper", "target": "done", "label": "next"},
    ],
}  # fmt: skip


def _fake_llm(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    script = folder / "rules.yaml"
    script.write_text(RULES)
    port = free_port()
    log_path = folder / "fake-llm.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "convoflow", "fake-llm", "--port", str(port),
             "--script", str(script)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/_fake/requests", process, log_path)
    return process, url


def _run_agent(http: httpx.Client, llm_url: str) -> str:
    """The agent flow run through the API on the sandbox channel, answered once; the
    execution's id once it has ended."""
    model = {"provider_model": {"name": "fake", "provider": "openai",
                                "base_url": f"{llm_url}/v1", "api_key": "sk-fake"}}  # fmt: skip
    assert http.post("/provider_models", json=model).status_code == 201
    execution_id = start_on_sandbox(http, "Refunds", AGENT_FLOW, "+15550003333")
    detail = _wait_for(http, execution_id, "waiting")
    said = {"text": "It is order A-42"}
    conversation = detail["whatsapp_conversation_id"]
    assert http.post(f"/sandbox/conversations/{conversation}/messages", json=said).is_success
    _wait_for(http, execution_id, "ended")
    return str(execution_id)


def _wait_for(http: httpx.Client, execution_id: str, status: str) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    for _ in range(300):  # the worker runs the model calls after the API answered
        detail = http.get(f"/workflow_executions/{execution_id}").json()["data"]
        if detail["status"] == status:
            return detail
        time.sleep(0.05)
    raise AssertionError(f"expected {status}, got {detail.get('status')}: {detail}")


def test_the_inspector_lists_agent_turns_and_tool_calls(page: Any, tmp_path_factory: Any) -> None:
    folder = tmp_path_factory.mktemp("agent")
    llm, llm_url = _fake_llm(folder)
    env = {"CONVOFLOW_ALLOW_PRIVATE_NETWORK": "1"}  # the fake LLM listens on loopback
    try:
        with running_server(folder, env) as server:
            http = httpx.Client(
                base_url=f"{server.url}/platform/v1", headers={"X-API-Key": server.api_key}
            )
            execution_id = _run_agent(http, llm_url)
            sign_in(page, server)
            page.goto(f"{server.url}/console/executions/{execution_id}")
            turns = page.get_by_role("region", name="Agent turns")
            expect(turns.get_by_test_id("agent-turn")).to_have_count(4)
            first = turns.get_by_test_id("agent-turn").nth(0)
            expect(first).to_contain_text("Turn 1")
            expect(first).to_contain_text("fake")
            expect(first).to_contain_text("tokens")
            expect(first).to_contain_text(" ms")
            call = first.get_by_test_id("tool-call")
            expect(call).to_contain_text("save_variable")
            expect(call).to_contain_text('{"name":"topic","value":"refund"}')
            expect(call).to_contain_text("→ saved vars.topic")
            second = turns.get_by_test_id("agent-turn").nth(1)
            expect(second.get_by_test_id("tool-call")).to_contain_text('"message":"Which order?"')
            last = turns.get_by_test_id("agent-turn").nth(3)
            expect(last).to_contain_text("complete_task")
            expect(turns).to_contain_text("Task completed after 4 turn(s): “refund for order A-42”")
            # The long timeline scrolls inside itself; the path on the graph stays in view.
            timeline = page.get_by_role("region", name="Events")
            graph = page.get_by_role("region", name="Path taken")
            assert_panes_scroll_alone_in_windows(page, timeline, graph)
            timeline.evaluate("(pane) => { pane.scrollTop = 0; }")
            screenshot(page, "inspector-agent")
            http.close()
            # Leave the page before this server stops: its live event stream would fail.
            page.goto("about:blank")
    finally:
        llm.terminate()
        llm.wait(timeout=20)
