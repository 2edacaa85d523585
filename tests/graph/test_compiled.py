"""compile_definition and the CompiledGraph the engine walks; the shipped examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convoflow.graph import (
    CompiledGraph,
    InvalidDefinition,
    compile_definition,
    load_flow_document,
    validate_definition,
)
from convoflow.graph.nodes import DecideConfig, SendTextConfig

from ._build import chain, definition, edge, node, text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def branching() -> dict[str, Any]:
    route = node(
        "route",
        "decide",
        decision_type="rules",
        conditions=[
            {"id": "c1", "label": "adult", "expression": "vars.age >= 18"},
            {"label": "other"},
        ],
    )
    return definition(
        node("start", "start"),
        text("hello", "Hi {{vars.name}}"),
        route,
        text("yes"),
        text("no"),
        edges=[
            edge("start", "hello", id="e1"),
            edge("hello", "route", None),
            edge("route", "yes", "adult", flow_condition_id="c1"),
            edge("route", "no", "other"),
        ],
    )


def test_compile_and_walk() -> None:
    graph = compile_definition(branching(), known_vars={"name", "age"})
    assert isinstance(graph, CompiledGraph)
    assert graph.start_node_id == "start"
    assert graph.next_node("start") == "hello"
    assert graph.next_node("hello", "next") == "route"
    assert graph.next_node("route", "adult") == "yes"
    assert graph.next_node("route", "other") == "no"
    assert graph.next_node("route", "maybe") is None
    assert graph.next_node("yes") is None  # a leaf ends the execution
    assert graph.next_node("ghost") is None
    assert [e.target for e in graph.edges_from("route")] == ["yes", "no"]
    assert graph.edges_from("yes") == []
    assert graph.labels_from("route") == ["adult", "other"]


def test_compiled_nodes_carry_typed_configs() -> None:
    graph = compile_definition(branching())
    hello = graph.nodes["hello"]
    assert (hello.id, hello.node_type, hello.display_name) == ("hello", "send_text", "hello")
    assert isinstance(hello.config, SendTextConfig) and hello.config.message == "Hi {{vars.name}}"
    route = graph.node("route").config
    assert isinstance(route, DecideConfig) and route.labels == ["adult", "other"]
    assert not hello.waits
    with pytest.raises(KeyError, match="ghost"):
        graph.node("ghost")


def test_compiled_graph_is_frozen_and_keeps_warnings() -> None:
    graph = compile_definition(branching())
    with pytest.raises(AttributeError):
        graph.start_node_id = "other"  # type: ignore[misc]
    assert [w.code for w in graph.warnings] == ["variable_never_written", "variable_never_written"]


def test_compile_with_non_start_id() -> None:
    graph = compile_definition(
        definition(node("begin", "start"), text("a"), edges=[edge("begin", "a")])
    )
    assert graph.start_node_id == "begin"


def test_invalid_definition_carries_the_report() -> None:
    with pytest.raises(InvalidDefinition) as info:
        compile_definition(chain(text("a", ""), node("b", "mystery")))
    report = info.value.report
    assert {p.code for p in report.errors} == {"empty_required_field", "unknown_node_type"}
    assert "node 'a'" in str(info.value)
    with pytest.raises(InvalidDefinition):
        compile_definition("not a definition")


@pytest.mark.parametrize("name", ["canonical.json", "menu.json"])
def test_examples_validate_with_no_problems(name: str) -> None:
    document = json.loads((EXAMPLES / name).read_text())
    title, description, raw = load_flow_document(document)
    assert title and description
    report = validate_definition(raw)
    assert report.to_dict() == {"valid": True, "errors": [], "warnings": []}
    graph = compile_definition(raw)
    assert graph.start_node_id == "start"


def test_canonical_example_shape() -> None:
    _, _, raw = load_flow_document(json.loads((EXAMPLES / "canonical.json").read_text()))
    graph = compile_definition(raw)
    walk = [graph.start_node_id]
    while (nxt := graph.next_node(walk[-1])) is not None:
        walk.append(nxt)
    assert [graph.nodes[n].node_type for n in walk] == [
        "start",
        "send_text",
        "wait_for_response",
        "decide",
    ]
    assert graph.next_node("check_age", "adult") == "set_adult"
    assert graph.next_node("set_adult") == "confirm"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "data",
                    "node_type",
                    "config",
                    "nodes",
                    "edges",
                    "source",
                    "target",
                    "label",
                    "position",
                    "x",
                    "buttons",
                    "conditions",
                    "message",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300)
@given(json_values)
def test_validate_definition_never_raises_on_arbitrary_json(raw: Any) -> None:
    report = validate_definition(raw)
    assert report.valid or report.errors
    assert not any("could not be validated" in p.message for p in report.errors)
    if report.valid:
        compile_definition(raw)


node_types = st.sampled_from(
    ["start", "send_text", "wait_for_response", "handoff", "decide", "bogus"]
)


@settings(max_examples=200)
@given(
    st.lists(st.tuples(st.sampled_from(["start", "a", "b", "c", "d"]), node_types), max_size=6),
    st.lists(
        st.tuples(
            st.sampled_from(["start", "a", "b", "c", "d", "zz"]),
            st.sampled_from(["start", "a", "b", "c", "d", "zz"]),
            st.sampled_from(["next", "yes", None]),
        ),
        max_size=8,
    ),
)
def test_random_graphs_never_raise_and_valid_ones_compile(
    specs: list[tuple[str, str]], links: list[tuple[str, str, str | None]]
) -> None:
    configs = {"send_text": {"message": "hi"}, "decide": {"conditions": [{"label": "yes"}]}}
    raw = definition(
        *[node(node_id, kind, **configs.get(kind, {})) for node_id, kind in specs],
        edges=[edge(s, t, label) for s, t, label in links],
    )
    report = validate_definition(raw)
    if report.valid:
        graph = compile_definition(raw)
        for node_id in graph.nodes:
            for out in graph.edges_from(node_id):
                assert out.target in graph.nodes
