"""validate_definition on malformed input: never raises, reports every problem."""

from __future__ import annotations

from typing import Any

import pytest

from convoflow.graph import Problem, ValidationReport, validate_definition

from ._build import chain, definition, edge, error_codes, errors_of, node, text


@pytest.mark.parametrize("raw", [None, 1, "nodes", [], True, 2.5])
def test_not_an_object(raw: Any) -> None:
    report = validate_definition(raw)
    assert error_codes(report) == ["invalid_definition"]
    assert not report.valid


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ({}, "invalid_nodes"),
        ({"nodes": {"start": {}}}, "invalid_nodes"),
        ({"nodes": [], "edges": {}}, "invalid_edges"),
    ],
)
def test_nodes_and_edges_must_be_lists(raw: dict[str, Any], code: str) -> None:
    assert code in error_codes(validate_definition(raw))


def test_edges_may_be_omitted_or_null() -> None:
    for raw in (
        {"nodes": [node("start", "start")]},
        {"nodes": [node("start", "start")], "edges": None},
    ):
        assert validate_definition(raw).valid


def test_empty_definition() -> None:
    report = validate_definition({"nodes": [], "edges": []})
    assert error_codes(report) == ["empty_definition"]
    assert validate_definition(chain()).valid


def test_node_not_an_object() -> None:
    raw = definition(node("start", "start"), "oops")  # type: ignore[arg-type]
    [problem] = errors_of(raw, "invalid_node")
    assert problem.field == "nodes[1]"


@pytest.mark.parametrize(
    ("node_id", "code"),
    [(None, "missing_node_id"), ("", "missing_node_id"), (7, "invalid_node_id")],
)
def test_node_without_usable_id(node_id: Any, code: str) -> None:
    bad = node("x", "send_text", message="hi")
    bad["id"] = node_id
    if node_id is None:
        del bad["id"]
    [problem] = errors_of(definition(node("start", "start"), bad), code)
    assert problem.field == "nodes[1].id"


@pytest.mark.parametrize("node_id", ["1abc", "has space", "dot.ted", "_x", "ñandu"])
def test_invalid_node_id_pattern(node_id: str) -> None:
    raw = chain(node(node_id, "handoff"))
    [problem] = errors_of(raw, "invalid_node_id")
    assert problem.node_id == node_id
    assert "must start with a letter" in problem.message


@pytest.mark.parametrize("node_id", ["a", "Send-Intro_2", "send_text_1710000000000"])
def test_valid_node_id_patterns(node_id: str) -> None:
    assert not errors_of(chain(node(node_id, "handoff")), "invalid_node_id")


def test_missing_data_and_node_type() -> None:
    no_data = {"id": "a", "position": {"x": 0, "y": 0}}
    no_type = {"id": "b", "data": {"config": {}}}
    bad_type = {"id": "c", "data": {"node_type": 5, "config": {}}}
    report = validate_definition(definition(node("start", "start"), no_data, no_type, bad_type))
    by_code = {(p.code, p.node_id) for p in report.errors}
    assert ("missing_node_data", "a") in by_code
    assert ("missing_node_type", "b") in by_code
    assert ("missing_node_type", "c") in by_code


def test_invalid_position() -> None:
    bad = node("a", "handoff")
    bad["position"] = {"x": "left", "y": 0}
    [problem] = errors_of(chain(bad), "invalid_position")
    assert problem.field == "position.x"
    bad["position"] = [1, 2]
    assert errors_of(chain(bad), "invalid_position")
    ok = node("a", "handoff")
    del ok["position"]
    assert validate_definition(chain(ok)).valid


def test_unknown_node_type() -> None:
    [problem] = errors_of(chain(node("p", "pipedream", action_id="x")), "unknown_node_type")
    assert problem.node_id == "p"
    assert problem.field == "data.node_type"
    assert "send_text" in problem.message


def test_config_not_an_object() -> None:
    bad = node("a", "send_text")
    bad["data"]["config"] = "hello"
    [problem] = errors_of(chain(bad), "invalid_config")
    assert problem.field == "data.config"


def test_edge_not_an_object_and_missing_ends() -> None:
    raw = definition(
        node("start", "start"), text("a"), edges=["x", {"target": "a"}, {"source": "start"}]
    )  # type: ignore[list-item]
    report = validate_definition(raw)
    assert {"invalid_edge", "missing_edge_source", "missing_edge_target"} <= set(
        error_codes(report)
    )


def test_edge_to_and_from_unknown_nodes() -> None:
    raw = definition(
        node("start", "start"),
        text("a"),
        edges=[edge("start", "a"), edge("a", "ghost", id="e2"), edge("phantom", "a")],
    )
    report = validate_definition(raw)
    [target] = [p for p in report.errors if p.code == "missing_edge_target"]
    assert (target.edge_id, target.field, target.node_id) == ("e2", "edges[1].target", "a")
    assert "'ghost' does not exist" in target.message
    [source] = [p for p in report.errors if p.code == "missing_edge_source"]
    assert source.field == "edges[2].source"


def test_empty_edge_label() -> None:
    raw = definition(node("start", "start"), text("a"), edges=[edge("start", "a", "")])
    assert errors_of(raw, "empty_edge_label")
    assert not errors_of(chain(text("a")), "empty_edge_label")


def test_duplicate_edge_id() -> None:
    raw = definition(
        node("start", "start"),
        text("a"),
        text("b"),
        edges=[edge("start", "a", id="e"), edge("a", "b", id="e")],
    )
    assert errors_of(raw, "duplicate_edge_id")


def test_all_problems_reported_at_once() -> None:
    raw = definition(
        node("start", "start"),
        node("bad id", "send_text", message="x" * 5000),
        node(
            "menu",
            "send_interactive",
            interactive_type="button",
            body_text="b",
            buttons=[{"id": str(i), "title": "t" * 25} for i in range(4)],
        ),
        node("w", "wait_for_response", timeout_seconds=1),
        edges=[edge("start", "nowhere")],
    )
    codes = set(error_codes(validate_definition(raw)))
    assert {
        "invalid_node_id",
        "message_too_long",
        "too_many_buttons",
        "button_title_too_long",
        "invalid_timeout",
        "missing_edge_target",
    } <= codes


def test_report_serialisation() -> None:
    report = ValidationReport(
        errors=[Problem("x", "bad", node_id="n", field="config.a")],
        warnings=[Problem("w", "hmm")],
    )
    assert report.to_dict() == {
        "valid": False,
        "errors": [
            {"code": "x", "message": "bad", "node_id": "n", "field": "config.a", "edge_id": None}
        ],
        "warnings": [
            {"code": "w", "message": "hmm", "node_id": None, "field": None, "edge_id": None}
        ],
    }
    assert ValidationReport().valid
    assert ValidationReport().to_dict() == {"valid": True, "errors": [], "warnings": []}


@pytest.mark.parametrize(
    "raw",
    [
        {"nodes": [None, 1, [], {"id": {}}]},
        {"nodes": [{"id": "a", "data": []}], "edges": [[]]},
        {"nodes": [{"id": "a", "data": {"node_type": "decide", "config": {"conditions": "x"}}}]},
        {
            "nodes": [
                {
                    "id": "a",
                    "data": {
                        "node_type": "send_interactive",
                        "config": {"buttons": [None, 3], "list_sections": [{"rows": 5}]},
                    },
                }
            ]
        },
        {
            "nodes": [
                {"id": "a", "data": {"node_type": "emit_event", "config": {"properties": [1]}}}
            ]
        },
        {
            "nodes": [{"id": "start", "data": {"node_type": "start"}}],
            "edges": [{"source": 1, "target": None, "label": 3}],
        },
    ],
)
def test_garbage_never_raises(raw: Any) -> None:
    report = validate_definition(raw)
    assert not report.valid
    assert all(isinstance(p, Problem) and p.message for p in report.errors)
    assert not any("could not be validated" in p.message for p in report.errors)


START = node("start", "start")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ({"nodes": {"start": START}}, "invalid_nodes"),
        ({"nodes": [START], "edges": "x"}, "invalid_edges"),
        ({"nodes": [START, 5]}, "invalid_node"),
        ({"nodes": [{"data": {"node_type": "start", "config": {}}}]}, "missing_node_id"),
        ({"nodes": [{"id": "a"}]}, "missing_node_data"),
        ({"nodes": [{"id": "a", "data": {"config": {}}}]}, "missing_node_type"),
        ({"nodes": [{"id": "a", "data": {"node_type": "start", "config": []}}]}, "invalid_config"),
        (
            {"nodes": [{"id": "a", "data": {"node_type": "teleport", "config": 3}}]},
            "invalid_config",
        ),
        ({"nodes": [START], "edges": [{"source": "start"}]}, "missing_edge_target"),
        ({"nodes": [START], "edges": [{"source": "start", "target": 7}]}, "missing_edge_target"),
    ],
)
def test_wrong_json_types_are_malformed(raw: dict[str, Any], code: str) -> None:
    """What cannot be stored even as a draft is flagged `malformed`."""
    report = validate_definition(raw)
    assert code in [p.code for p in report.malformed], report.errors


def test_graph_level_problems_are_not_malformed() -> None:
    """Dangling edges, no start, missing config, unknown types, bad ids: a draft keeps them."""
    raw = {
        "nodes": [
            node("1bad", "send_text"),
            node("x", "teleport"),
            node("x", "handoff"),
        ],
        "edges": [edge("1bad", "nowhere"), edge("nowhere", "x"), edge("x", "x", label=" ")],
    }
    report = validate_definition(raw)
    codes = set(error_codes(report))
    assert {
        "missing_start_node",
        "invalid_node_id",
        "empty_required_field",
        "unknown_node_type",
        "duplicate_node_id",
        "missing_edge_target",
        "missing_edge_source",
        "empty_edge_label",
    } <= codes, codes
    assert report.malformed == []
    assert "malformed" not in report.to_dict()["errors"][0]
