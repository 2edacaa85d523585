"""Lints: warnings with stable codes; a flow with only warnings is still valid."""

from __future__ import annotations

import itertools
from typing import Any

from convoflow.graph import validate_definition

from ._build import chain, definition, edge, node, text, warning_codes, warnings_of


def loop(*middle: dict[str, Any]) -> dict[str, Any]:
    """start -> middle[0] -> ... -> middle[-1] -> middle[0]."""
    ids = [item["id"] for item in middle]
    links = [edge("start", ids[0])]
    links += [edge(a, b) for a, b in itertools.pairwise(ids)]
    links.append(edge(ids[-1], ids[0]))
    return definition(node("start", "start"), *middle, edges=links)


def test_unreachable_node() -> None:
    raw = definition(
        node("start", "start"),
        text("a"),
        text("island"),
        text("island2"),
        edges=[edge("start", "a"), edge("island", "island2")],
    )
    report = validate_definition(raw)
    assert report.valid
    assert sorted(p.node_id or "" for p in report.warnings if p.code == "unreachable_node") == [
        "island",
        "island2",
    ]
    assert not warnings_of(chain(text("a"), text("b")), "unreachable_node")


def test_cycle_without_wait_reported_once_per_component() -> None:
    raw = loop(text("a"), text("b"), text("c"))
    [problem] = warnings_of(raw, "cycle_without_wait")
    assert problem.node_id == "a"
    assert "'a', 'b', 'c'" in problem.message
    assert validate_definition(raw).valid


def test_self_loop_without_wait() -> None:
    raw = definition(
        node("start", "start"),
        node("x", "set_variable", variable_name="n", variable_value=1),
        edges=[edge("start", "x"), edge("x", "x")],
    )
    [problem] = warnings_of(raw, "cycle_without_wait")
    assert problem.node_id == "x"


def test_two_separate_cycles_give_two_warnings() -> None:
    raw = definition(
        node("start", "start"),
        text("a"),
        text("b"),
        node("d", "decide", conditions=[{"label": "l"}, {"label": "r"}]),
        text("c"),
        text("e"),
        edges=[
            edge("start", "d"),
            edge("d", "a", "l"),
            edge("a", "b"),
            edge("b", "a"),
            edge("d", "c", "r"),
            edge("c", "e"),
            edge("e", "c"),
        ],
    )
    assert len(warnings_of(raw, "cycle_without_wait")) == 2


def test_cycles_broken_by_a_pause_are_fine() -> None:
    pauses = [
        node("w", "wait_for_response"),
        node("w", "agent"),
        node("w", "call", workflow_id="child"),
        node("w", "send_text", message="later", delay_seconds=30),
    ]
    for pause in pauses:
        assert not warnings_of(loop(text("a"), pause), "cycle_without_wait"), pause
    assert warnings_of(
        loop(text("a"), node("w", "send_text", message="now", delay_seconds=0)),
        "cycle_without_wait",
    )


def test_handoff_edges_do_not_form_a_spinning_loop() -> None:
    raw = loop(text("a"), node("h", "handoff"))
    assert not warnings_of(raw, "cycle_without_wait")


def test_long_chain_does_not_hit_recursion_limit() -> None:
    nodes = [text(f"n{i}") for i in range(3000)]
    raw = loop(*nodes)
    assert len(warnings_of(raw, "cycle_without_wait")) == 1


def test_variable_never_written() -> None:
    raw = chain(text("a", "Hi {{vars.name}}, your code is {{code}}"))
    problems = warnings_of(raw, "variable_never_written")
    assert [(p.node_id, p.field) for p in problems] == [
        ("a", "config.message"),
        ("a", "config.message"),
    ]
    assert "vars.name" in problems[0].message and "vars.code" in problems[1].message


def test_variable_reported_once() -> None:
    raw = chain(text("a", "{{vars.x}}"), text("b", "{{vars.x}}"))
    assert len(warnings_of(raw, "variable_never_written")) == 1


def test_variables_written_by_nodes_are_fine() -> None:
    writers = [
        node("w", "set_variable", variable_name="x", variable_value="1"),
        node("w", "wait_for_response", save_response_to="x"),
        node("w", "webhook", url="https://h", save_response_to="x"),
        node("w", "webhook", url="https://h", continue_on_error=True, save_error_to="x"),
    ]
    for writer in writers:
        assert not warnings_of(
            chain(writer, text("r", "{{vars.x.y}}")), "variable_never_written"
        ), writer
    webhook_default = chain(
        node("w", "webhook", url="https://h", continue_on_error=True),
        text("r", "{{vars.webhook_error}}"),
    )
    assert not warnings_of(webhook_default, "variable_never_written")
    call_default = chain(
        node("c", "call", workflow_id="w"), text("r", "{{vars.subworkflow_error}}")
    )
    assert not warnings_of(call_default, "variable_never_written")


def test_builtins_known_vars_and_other_namespaces() -> None:
    message = "{{last_user_input}} {{vars.last_user_message.text}} {{system.flow_id}} "
    raw = chain(text("a", message + "{{context.phone_number}}"))
    assert not warnings_of(raw, "variable_never_written")
    raw = chain(text("a", "Hi {{vars.name}}"))
    assert not warnings_of(raw, "variable_never_written", known_vars=["name"])


def test_nodes_that_may_write_anything_disable_the_lint() -> None:
    for writer in (
        node("f", "function", function_id="fn"),
        node("f", "agent"),
        node(
            "f",
            "decide",
            decision_type="function",
            function_id="fn",
            conditions=[{"label": "next"}],
        ),
    ):
        raw = chain(writer, text("r", "{{vars.anything}}"))
        assert not warnings_of(raw, "variable_never_written"), writer


def test_rules_expressions_are_reads_too() -> None:
    route = node(
        "route",
        "decide",
        decision_type="rules",
        conditions=[{"label": "adult", "expression": "vars.age >= 18"}, {"label": "other"}],
    )
    raw = definition(
        node("start", "start"),
        route,
        text("a"),
        text("b"),
        edges=[edge("start", "route"), edge("route", "a", "adult"), edge("route", "b", "other")],
    )
    [problem] = warnings_of(raw, "variable_never_written")
    assert problem.field == "config.conditions[0].expression"
    assert not warnings_of(raw, "variable_never_written", known_vars={"age"})


def test_reads_in_nested_config_fields() -> None:
    raw = chain(
        node(
            "w",
            "webhook",
            url="https://h/{{vars.a}}",
            headers={"X": "{{vars.b}}"},
            body_template={"items": ["{{vars.c}}"]},
        )
    )
    fields = [p.field for p in warnings_of(raw, "variable_never_written")]
    assert fields == ["config.url", "config.headers.X", "config.body_template.items[0]"]


def test_text_too_long() -> None:
    menu = node(
        "m",
        "send_interactive",
        interactive_type="list",
        body_text="b",
        footer_text="f" * 61,
        header_type="text",
        header_text="h" * 61,
        list_button_text="l" * 21,
        list_sections=[{"title": "s" * 25, "rows": [{"id": "r", "title": "r"}]}],
    )
    problems = warnings_of(chain(menu), "text_too_long")
    assert sorted(p.field or "" for p in problems) == [
        "config.footer_text",
        "config.header_text",
        "config.list_button_text",
        "config.list_sections[0].title",
    ]
    assert "WhatsApp allows at most 60" in problems[0].message
    short = node(
        "m",
        "send_interactive",
        interactive_type="button",
        body_text="b",
        footer_text="f" * 60,
        buttons=[{"id": "a", "title": "A"}],
    )
    assert not warnings_of(chain(short), "text_too_long")


def test_hard_limits_are_errors_not_text_too_long_warnings() -> None:
    report = validate_definition(chain(text("a", "x" * 5000)))
    assert "message_too_long" in [p.code for p in report.errors]
    assert "text_too_long" not in warning_codes(report)


def test_agent_options_convoflow_cannot_honour_are_warned() -> None:
    agent = node(
        "a",
        "agent",
        system_prompt="hi",
        enabled_default_tools=["ask_about_file", "complete_task"],
        default_tool_configs={"emit_event": {"event_definition_ids": ["evd_1"]}},
        sandbox_enabled=True,
    )
    problems = warnings_of(chain(node("start", "start"), agent), "agent_option_ignored")
    assert [p.field for p in problems] == [
        "config.default_tool_configs.emit_event.event_definition_ids",
        "config.enabled_default_tools",
        "config.sandbox_enabled",
    ]
    assert all(p.node_id == "a" for p in problems)
    plain = node("a", "agent", system_prompt="hi", sandbox_enabled=False)
    assert not warnings_of(chain(node("start", "start"), plain), "agent_option_ignored")
