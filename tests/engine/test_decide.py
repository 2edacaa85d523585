"""decide: rules (first true wins, default, fallback), function (real HTTP), ai."""

from __future__ import annotations

from typing import Any

from tests.support import (
    Chat,
    edge,
    events,
    make_http_function,
    make_project,
    node,
)

LABELS = ("a", "b", "c")


def decide_flow(**decide_config: Any) -> dict[str, Any]:
    """start -> decide -> one send_text per condition label (the text is the label)."""
    labels = [c["label"] for c in decide_config["conditions"]]
    nodes = [node("start", "start"), node("route", "decide", **decide_config)]
    edges = [edge("start", "route")]
    for label in labels:
        nodes.append(node(f"say_{label}", "send_text", message=f"took {label}"))
        edges.append(edge("route", f"say_{label}", label))
    return {"nodes": nodes, "edges": edges}


async def decision(engine, chat: Chat) -> dict[str, Any]:
    execution = await chat.execution()
    [evaluated] = [
        e for e in await events(engine, execution["id"]) if e["event_type"] == "decision_evaluated"
    ]
    return evaluated


async def test_rules_first_true_condition_wins(engine):
    flow = decide_flow(
        decision_type="rules",
        conditions=[
            {"label": "a", "expression": "vars.n > 100"},
            {"label": "b", "expression": "vars.n > 5"},
            {"label": "c", "expression": "vars.n > 1"},
        ],
    )
    chat = await Chat.open(engine, flow, variables={"n": 10})
    assert await chat.texts() == ["took b"]
    event = await decision(engine, chat)
    assert event["edge_label"] == "b"
    assert event["payload"]["selected"] == "b"
    assert event["payload"]["reason"] == "matched"
    # Evaluation stops at the first true condition.
    assert [e["label"] for e in event["payload"]["evaluations"]] == ["a", "b"]
    assert (await chat.execution())["status"] == "ended"


async def test_rules_default_condition_when_nothing_matches(engine):
    flow = decide_flow(
        decision_type="rules",
        conditions=[
            {"label": "a", "expression": "vars.n > 100"},
            {"label": "b"},  # default, listed before a later condition
            {"label": "c", "expression": "vars.n > 50"},
        ],
    )
    chat = await Chat.open(engine, flow, variables={"n": 1})
    assert await chat.texts() == ["took b"]
    event = await decision(engine, chat)
    assert (event["payload"]["selected"], event["payload"]["reason"]) == ("b", "default")


async def test_rules_default_does_not_shadow_a_later_true_condition(engine):
    flow = decide_flow(
        decision_type="rules",
        conditions=[
            {"label": "a"},
            {"label": "b", "expression": "lower(vars.word) == 'yes'"},
        ],
    )
    chat = await Chat.open(engine, flow, variables={"word": "YES"})
    assert await chat.texts() == ["took b"]


async def test_rules_without_match_or_default_fall_back_to_first(engine):
    flow = decide_flow(
        decision_type="rules",
        conditions=[
            {"label": "a", "expression": "vars.n == 1"},
            {"label": "b", "expression": "vars.n == 2"},
        ],
    )
    chat = await Chat.open(engine, flow, variables={"n": 3})
    assert await chat.texts() == ["took a"]
    event = await decision(engine, chat)
    assert event["payload"]["selected"] == "a"
    assert event["payload"]["reason"] == "fallback"
    assert "no condition matched" in event["payload"]["why"]
    assert [e["result"] for e in event["payload"]["evaluations"]] == [False, False]


async def test_rules_see_system_and_context(engine):
    flow = decide_flow(
        decision_type="rules",
        conditions=[
            {"label": "a", "expression": "context.channel == 'whatsapp'"},
            {"label": "b", "expression": "context.channel == 'sandbox' and system.flow_name"},
        ],
    )
    chat = await Chat.open(engine, flow)
    assert await chat.texts() == ["took b"]


async def test_function_decision_picks_edge_and_merges_vars(engine, http_server):
    http_server.replies = [(200, {"next_edge": "c", "vars": {"score": 9, "tier": "gold"}})]
    project_id = await make_project(engine, allow_private_network=True)
    function_id = await make_http_function(engine, project_id, f"{http_server.url}/route")
    flow = decide_flow(
        decision_type="function",
        function_id=function_id,
        conditions=[{"label": label} for label in LABELS],
    )
    chat = await Chat.open(engine, flow, project_id=project_id, variables={"x": 1})
    assert await chat.texts() == ["took c"]
    execution = await chat.execution()
    assert execution["context"]["vars"]["score"] == 9
    assert execution["context"]["vars"]["tier"] == "gold"
    [request] = http_server.requests
    assert request.method == "POST"
    assert request.path == "/route"
    payload = request.json
    assert payload["available_edges"] == list(LABELS)
    assert payload["execution_context"]["vars"]["x"] == 1
    assert payload["flow_info"]["step_id"] == "route"
    event = await decision(engine, chat)
    assert event["payload"] == {"decision_type": "function", "selected": "c"}


async def test_function_decision_with_unknown_edge_falls_back(engine, http_server):
    http_server.replies = [(200, {"next_edge": "nope"})]
    project_id = await make_project(engine, allow_private_network=True)
    function_id = await make_http_function(engine, project_id, http_server.url)
    flow = decide_flow(
        decision_type="function",
        function_id=function_id,
        conditions=[{"label": label} for label in LABELS],
    )
    chat = await Chat.open(engine, flow, project_id=project_id)
    assert await chat.texts() == ["took a"]
    event = await decision(engine, chat)
    assert event["payload"]["reason"] == "fallback"
    assert "'nope'" in event["payload"]["why"]


async def test_failing_function_decision_falls_back(engine, http_server):
    http_server.replies = [(404, {"error": "gone"})]
    project_id = await make_project(engine, allow_private_network=True)
    function_id = await make_http_function(engine, project_id, http_server.url)
    flow = decide_flow(
        decision_type="function",
        function_id=function_id,
        conditions=[{"label": label} for label in LABELS],
    )
    chat = await Chat.open(engine, flow, project_id=project_id)
    assert await chat.texts() == ["took a"]
    event = await decision(engine, chat)
    assert event["payload"]["reason"] == "fallback"
    assert "function failed" in event["payload"]["why"]
    assert (await chat.execution())["status"] == "ended"


async def test_ai_decision_without_provider_takes_first_condition(engine):
    flow = decide_flow(
        decision_type="ai",
        conditions=[
            {"label": "b", "description": "the user is happy"},
            {"label": "a", "description": "anything else"},
        ],
    )
    chat = await Chat.open(engine, flow)
    assert await chat.texts() == ["took b"]
    event = await decision(engine, chat)
    assert event["payload"]["decision_type"] == "ai"
    assert event["payload"]["selected"] == "b"
    assert "no provider model configured" in event["payload"]["why"]
