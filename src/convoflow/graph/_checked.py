"""Nodes and edges as seen by validation: what could be parsed, tied to its position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convoflow.graph.models import Edge
from convoflow.graph.nodes import NodeConfig


@dataclass
class CheckedNode:
    index: int  # position in definition.nodes, for messages about nodes without a usable id
    id: str
    node_type: str | None  # None when data.node_type is missing or not a string
    raw_config: dict[str, Any]
    config: NodeConfig | None  # None for an unknown node type or an invalid config
    display_name: str | None = None


@dataclass
class CheckedEdge:
    index: int
    edge: Edge

    @property
    def source(self) -> str:
        return self.edge.source

    @property
    def target(self) -> str:
        return self.edge.target

    @property
    def label(self) -> str:
        return self.edge.label

    def describe(self) -> str:
        return f"edge '{self.source}' -> '{self.target}' (label '{self.label}')"
