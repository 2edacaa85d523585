from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from convoflow.graph.models import Definition, Edge, Node, NodeData, Position, load_flow_document


def test_node_defaults_accept_minimal_client_payload() -> None:
    node = Node.model_validate({"id": "start", "data": {"node_type": "start"}})
    assert node.type == "flow-node"
    assert node.position == Position(x=0, y=0)
    assert node.data == NodeData(node_type="start", config={}, display_name=None)


def test_null_position_and_config_fall_back_to_defaults() -> None:
    node = Node.model_validate(
        {"id": "a", "position": None, "data": {"node_type": "start", "config": None}}
    )
    assert node.position == Position()
    assert node.data.config == {}


def test_extra_keys_on_nodes_and_edges_are_ignored() -> None:
    raw = {
        "nodes": [
            {
                "id": "start",
                "selected": True,
                "width": 200,
                "position": {"x": 1, "y": 2, "z": 3},
                "data": {"node_type": "start", "config": {}, "label": "x"},
            }
        ],
        "edges": [{"source": "start", "target": "x", "animated": True, "sourceHandle": "a"}],
        "viewport": {"zoom": 1},
    }
    definition = Definition.model_validate(raw)
    assert definition.nodes[0].position == Position(x=1, y=2)
    assert definition.edges[0].label == "next"


@pytest.mark.parametrize("label", [None, "next"])
def test_missing_or_null_edge_label_means_next(label: str | None) -> None:
    raw: dict[str, Any] = {"source": "a", "target": "b"}
    if label is None:
        raw["label"] = None
    assert Edge.model_validate(raw).label == "next"


def test_edge_optional_fields() -> None:
    edge = Edge.model_validate({"source": "a", "target": "b", "label": "yes"})
    assert edge.id is None
    assert edge.type == "default"
    assert edge.flow_condition_id is None


def test_camel_case_legacy_data_keys() -> None:
    data = NodeData.model_validate({"nodeType": "send_text", "displayName": "Hi", "config": {}})
    assert data.node_type == "send_text"
    assert data.display_name == "Hi"


def test_definition_requires_nodes() -> None:
    with pytest.raises(ValidationError):
        Definition.model_validate({"edges": []})
    assert Definition.model_validate({"nodes": [], "edges": None}).edges == []


BARE = {"nodes": [{"id": "start", "data": {"node_type": "start"}}], "edges": []}


def test_load_flow_document_bare_definition() -> None:
    assert load_flow_document(BARE) == (None, None, BARE)


def test_load_flow_document_builder_document() -> None:
    doc = {"name": "Demo", "description": "d", "definition": BARE}
    assert load_flow_document(doc) == ("Demo", "d", BARE)


@pytest.mark.parametrize("envelope", ["workflow", "flow", "data"])
def test_load_flow_document_unwraps_envelopes(envelope: str) -> None:
    doc = {envelope: {"name": "Demo", "definition": BARE}}
    assert load_flow_document(doc) == ("Demo", None, BARE)


@pytest.mark.parametrize("raw", [None, 3, "x", [1, 2], {"name": 5, "definition": []}])
def test_load_flow_document_never_raises(raw: Any) -> None:
    name, description, definition = load_flow_document(raw)
    assert name is None and description is None
    assert definition is not None or raw is None


def test_load_flow_document_non_string_name_is_dropped() -> None:
    assert load_flow_document({"name": 5, "definition": BARE})[0] is None
