"""Graph rules: start node, edge labels, decide branches; each code positive and negative."""

from __future__ import annotations

from typing import Any

from convoflow.graph import validate_definition

from ._build import chain, definition, edge, error_codes, errors_of, node, text, warnings_of


def decide(
    node_id: str = "route", labels: tuple[str, ...] = ("yes", "no"), **config: Any
) -> dict[str, Any]:
    conditions = [{"label": label} for label in labels]
    return node(node_id, "decide", conditions=conditions, **config)


def branching(*edges_: dict[str, Any], route: dict[str, Any] | None = None) -> dict[str, Any]:
    return definition(
        node("start", "start"),
        route or decide(),
        text("a"),
        text("b"),
        edges=[edge("start", "route"), *edges_],
    )


def test_missing_start_node() -> None:
    raw = definition(text("a"))
    [problem] = errors_of(raw, "missing_start_node")
    assert "start" in problem.message
    assert not errors_of(chain(text("a")), "missing_start_node")


def test_multiple_start_nodes() -> None:
    raw = definition(node("start", "start"), node("start2", "start"))
    [problem] = errors_of(raw, "multiple_start_nodes")
    assert problem.node_id == "start2"
    assert not errors_of(chain(), "multiple_start_nodes")


def test_start_node_id_not_start_is_a_warning() -> None:
    raw = definition(node("begin", "start"), text("a"), edges=[edge("begin", "a")])
    report = validate_definition(raw)
    assert report.valid
    [problem] = [p for p in report.warnings if p.code == "start_node_id_not_start"]
    assert problem.node_id == "begin"
    assert not warnings_of(chain(text("a")), "start_node_id_not_start")


def test_start_node_without_edge_warning() -> None:
    assert warnings_of(chain(), "start_node_without_edge")
    assert not warnings_of(chain(text("a")), "start_node_without_edge")


def test_duplicate_node_id() -> None:
    raw = chain(text("a"), text("a"))
    [problem] = errors_of(raw, "duplicate_node_id")
    assert problem.node_id == "a"
    assert problem.field == "nodes[2].id"
    assert not errors_of(chain(text("a"), text("b")), "duplicate_node_id")


def test_multiple_start_edges() -> None:
    raw = definition(
        node("start", "start"), text("a"), text("b"), edges=[edge("start", "a"), edge("start", "b")]
    )
    [problem] = errors_of(raw, "multiple_start_edges")
    assert problem.node_id == "start"
    assert not errors_of(raw, "non_decision_multiple_edges")
    assert not errors_of(chain(text("a")), "multiple_start_edges")


def test_non_decision_multiple_edges() -> None:
    raw = definition(
        node("start", "start"),
        text("a"),
        text("b"),
        text("c"),
        edges=[edge("start", "a"), edge("a", "b"), edge("a", "c")],
    )
    [problem] = errors_of(raw, "non_decision_multiple_edges")
    assert problem.node_id == "a"
    assert "'b'" in problem.message and "'c'" in problem.message
    assert not errors_of(chain(text("a"), text("b")), "non_decision_multiple_edges")


def test_non_decision_edge_label() -> None:
    raw = definition(node("start", "start"), text("a"), edges=[edge("start", "a", "yes", id="e1")])
    [problem] = errors_of(raw, "non_decision_edge_label")
    assert (problem.node_id, problem.edge_id, problem.field) == ("start", "e1", "edges[0].label")
    null_label = definition(node("start", "start"), text("a"), edges=[edge("start", "a", None)])
    assert validate_definition(null_label).valid


def test_handoff_outgoing_edges_warning() -> None:
    raw = chain(node("h", "handoff", reason="human"), text("after"))
    [problem] = warnings_of(raw, "handoff_outgoing_edges")
    assert problem.node_id == "h"
    assert not warnings_of(chain(node("h", "handoff")), "handoff_outgoing_edges")


def test_valid_decide() -> None:
    raw = branching(edge("route", "a", "yes"), edge("route", "b", "no"))
    assert validate_definition(raw).valid


def test_unknown_decision_edge_label() -> None:
    raw = branching(
        edge("route", "a", "yes"), edge("route", "b", "no"), edge("route", "a", "maybe")
    )
    [problem] = errors_of(raw, "unknown_decision_edge_label")
    assert problem.node_id == "route"
    assert "'maybe'" in problem.message and "yes, no" in problem.message


def test_missing_decision_edge() -> None:
    raw = branching(edge("route", "a", "yes"))
    [problem] = errors_of(raw, "missing_decision_edge")
    assert (problem.node_id, problem.field) == ("route", "config.conditions[1].label")


def test_duplicate_edge_label() -> None:
    raw = branching(edge("route", "a", "yes"), edge("route", "b", "yes"), edge("route", "b", "no"))
    [problem] = errors_of(raw, "duplicate_edge_label")
    assert problem.field == "edges[2].label"


def test_flow_condition_id_must_reference_the_node_condition() -> None:
    route = node(
        "route",
        "decide",
        conditions=[{"id": "c-yes", "label": "yes"}, {"id": "c-no", "label": "no"}],
    )
    good = branching(
        edge("route", "a", "yes", flow_condition_id="c-yes"),
        edge("route", "b", "no", flow_condition_id=None),
        route=route,
    )
    assert validate_definition(good).valid
    unknown = branching(
        edge("route", "a", "yes", flow_condition_id="c-other"),
        edge("route", "b", "no"),
        route=route,
    )
    [problem] = errors_of(unknown, "unknown_flow_condition_id")
    assert problem.field == "edges[1].flow_condition_id"
    mismatch = branching(
        edge("route", "a", "yes", flow_condition_id="c-no"), edge("route", "b", "no"), route=route
    )
    assert errors_of(mismatch, "flow_condition_label_mismatch")


def test_missing_decision_conditions() -> None:
    raw = definition(
        node("start", "start"),
        node("route", "decide", conditions=[]),
        edges=[edge("start", "route")],
    )
    [problem] = errors_of(raw, "missing_decision_conditions")
    assert (problem.node_id, problem.field) == ("route", "config.conditions")
    no_key = definition(
        node("start", "start"), node("route", "decide"), edges=[edge("start", "route")]
    )
    assert errors_of(no_key, "missing_decision_conditions")


def test_empty_decision_condition_label() -> None:
    raw = branching(edge("route", "a", "yes"), route=decide(labels=("yes", " ")))
    [problem] = errors_of(raw, "empty_decision_condition_label")
    assert problem.field == "config.conditions[1].label"


def test_duplicate_decision_condition() -> None:
    raw = branching(edge("route", "a", "yes"), route=decide(labels=("yes", "yes")))
    [problem] = errors_of(raw, "duplicate_decision_condition")
    assert problem.field == "config.conditions[1].label"
    assert "'yes'" in problem.message


def rules_route(*conditions: dict[str, Any]) -> dict[str, Any]:
    return node("route", "decide", decision_type="rules", conditions=list(conditions))


def test_invalid_expression() -> None:
    route = rules_route({"label": "yes", "expression": "vars.age >= "}, {"label": "no"})
    raw = branching(edge("route", "a", "yes"), edge("route", "b", "no"), route=route)
    [problem] = errors_of(raw, "invalid_expression")
    assert problem.field == "config.conditions[0].expression"
    assert "syntax" in problem.message
    ok = rules_route({"label": "yes", "expression": "vars.age >= 18"}, {"label": "no"})
    assert validate_definition(
        branching(edge("route", "a", "yes"), edge("route", "b", "no"), route=ok)
    ).valid


def test_multiple_default_conditions() -> None:
    route = rules_route({"label": "yes"}, {"label": "no"})
    raw = branching(edge("route", "a", "yes"), edge("route", "b", "no"), route=route)
    [problem] = errors_of(raw, "multiple_default_conditions")
    assert problem.field == "config.conditions[1].expression"
    ai = branching(edge("route", "a", "yes"), edge("route", "b", "no"))  # ai: no expressions needed
    assert not errors_of(ai, "multiple_default_conditions")


def test_missing_default_condition_warning() -> None:
    route = rules_route(
        {"label": "yes", "expression": "vars.x == 1"}, {"label": "no", "expression": "vars.x == 2"}
    )
    raw = branching(edge("route", "a", "yes"), edge("route", "b", "no"), route=route)
    known = {"known_vars": {"x"}}
    assert warnings_of(raw, "missing_default_condition", **known)
    with_default = rules_route({"label": "yes", "expression": "vars.x == 1"}, {"label": "no"})
    raw = branching(edge("route", "a", "yes"), edge("route", "b", "no"), route=with_default)
    assert not warnings_of(raw, "missing_default_condition", **known)


def test_config_error_message_names_node_field_and_limit() -> None:
    buttons = [{"id": f"b{i}", "title": "ok"} for i in range(3)] + [{"id": "b3", "title": "x" * 27}]
    raw = chain(
        node(
            "ask", "send_interactive", interactive_type="button", body_text="Pick", buttons=buttons
        )
    )
    [title] = errors_of(raw, "button_title_too_long")
    assert title.message == "node 'ask': buttons[3].title is 27 characters; at most 20 allowed"
    assert (title.node_id, title.field) == ("ask", "config.buttons[3].title")
    [count] = errors_of(raw, "too_many_buttons")
    assert count.field == "config.buttons"


def test_missing_required_field_maps_to_empty_required_field() -> None:
    [problem] = errors_of(chain(node("t", "send_text")), "empty_required_field")
    assert problem.message == "node 't': message is required"
    assert problem.field == "config.message"


def test_other_pydantic_errors_map_to_invalid_config() -> None:
    raw = chain(node("w", "wait_for_response", has_timeout="sometimes"))
    [problem] = errors_of(raw, "invalid_config")
    assert problem.field == "config.has_timeout"
    assert problem.message.startswith("node 'w': has_timeout: ")


KAPSO_CONFIG_CODES = {
    "empty_required_field": ("function", {"function_id": ""}),
    "invalid_timeout": ("wait_for_response", {"has_timeout": True, "timeout_seconds": 5}),
    "invalid_webhook_method": ("webhook", {"url": "https://x", "method": "OPTIONS"}),
    "invalid_reasoning_effort": ("agent", {"reasoning_effort": "ultra"}),
    "unknown_agent_default_tool": ("agent", {"enabled_default_tools": ["fly"]}),
    "missing_buttons": ("send_interactive", {"interactive_type": "button", "body_text": "b"}),
    "missing_list_sections": ("send_interactive", {"interactive_type": "list", "body_text": "b"}),
    "invalid_project_event_name": ("emit_event", {"event_name": "Bad Name"}),
    "invalid_project_event_property_value": (
        "emit_event",
        {"event_name": "ok", "properties": {"a": [1]}},
    ),
}


def test_kapso_config_codes_surface_through_validate_definition() -> None:
    for code, (node_type, config) in KAPSO_CONFIG_CODES.items():
        raw = chain(node("n", node_type, **config))
        assert code in error_codes(validate_definition(raw)), code


def test_agent_webhook_body_that_is_one_ai_field_is_a_problem_on_its_node() -> None:
    webhook = {"name": "t", "url": "https://x", "body": {"$ai": {}}}
    raw = chain(node("bot", "agent", flow_agent_webhooks=[webhook]))
    [problem] = errors_of(raw, "invalid_config")
    assert (problem.node_id, problem.field) == ("bot", "config.flow_agent_webhooks[0].body")
    assert "whole body cannot be an AI field" in problem.message
