"""The validated, typed, indexed form of a definition: what the engine walks.

It is built in a worker process for a large definition and pickled back (engine/cpu.py),
so it holds what the engine uses and no second copy of the definition (that doubled the
time to unpickle it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from convoflow.graph.models import Definition, Edge, Position
from convoflow.graph.nodes import NodeConfig, pauses
from convoflow.graph.problems import Problem, ValidationReport
from convoflow.graph.validation import check_definition


class InvalidDefinition(Exception):
    """Raised by ``compile_definition``; ``report`` lists every problem found."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(f"invalid flow definition: {report.summary()}")
        self.report = report


@dataclass(frozen=True)
class CompiledNode:
    id: str
    node_type: str
    config: NodeConfig
    display_name: str | None = None
    position: Position = field(default_factory=Position)

    @property
    def waits(self) -> bool:
        return pauses(self.node_type, self.config)


@dataclass(frozen=True)
class CompiledGraph:
    start_node_id: str
    nodes: dict[str, CompiledNode]
    edges: tuple[Edge, ...]
    warnings: tuple[Problem, ...] = ()
    _outgoing: dict[str, dict[str, Edge]] = field(default_factory=dict, repr=False)

    def node(self, node_id: str) -> CompiledNode:
        """The node with that id; KeyError names the id (a pinned version lacks it?)."""
        try:
            return self.nodes[node_id]
        except KeyError:
            raise KeyError(f"node '{node_id}' is not in this definition") from None

    def next_node(self, node_id: str, label: str = "next") -> str | None:
        """Target of ``node_id``'s outgoing edge labelled ``label``; None means the flow ends."""
        edge = self._outgoing.get(node_id, {}).get(label)
        return edge.target if edge is not None else None

    def edges_from(self, node_id: str) -> list[Edge]:
        return list(self._outgoing.get(node_id, {}).values())

    def labels_from(self, node_id: str) -> list[str]:
        return list(self._outgoing.get(node_id, {}))


def compile_definition(raw: Any, *, known_vars: Iterable[str] = ()) -> CompiledGraph:
    """Validate ``raw`` and build the graph; raises ``InvalidDefinition`` on any error."""
    report, checked_nodes, _ = check_definition(raw, known_vars=known_vars)
    if not report.valid:
        raise InvalidDefinition(report)
    definition = Definition.model_validate(raw)
    nodes: dict[str, CompiledNode] = {}
    for checked, model in zip(checked_nodes, definition.nodes, strict=True):
        assert checked.config is not None and checked.node_type is not None
        nodes[model.id] = CompiledNode(
            id=model.id,
            node_type=checked.node_type,
            config=checked.config,
            display_name=model.data.display_name,
            position=model.position,
        )
    outgoing: dict[str, dict[str, Edge]] = {}
    for edge in definition.edges:
        outgoing.setdefault(edge.source, {})[edge.label] = edge
    start = next(node.id for node in nodes.values() if node.node_type == "start")
    return CompiledGraph(
        start_node_id=start,
        nodes=nodes,
        edges=tuple(definition.edges),
        warnings=tuple(report.warnings),
        _outgoing=outgoing,
    )
