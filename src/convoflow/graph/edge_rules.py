"""Graph-level rules: one start node, and which edges each node may have."""

from __future__ import annotations

from typing import Any

from convoflow.graph._checked import CheckedEdge, CheckedNode
from convoflow.graph.nodes import NODE_TYPES, DecideConfig
from convoflow.graph.problems import ValidationReport


def check_start(
    nodes: list[CheckedNode],
    raw_nodes: list[Any],
    edges: list[CheckedEdge],
    report: ValidationReport,
) -> None:
    starts = [node for node in nodes if node.node_type == "start"]
    if not starts and raw_nodes:
        report.error(
            "missing_start_node",
            "the definition needs exactly one node with node_type 'start' (id 'start')",
            field="nodes",
        )
    for extra in starts[1:]:
        report.error(
            "multiple_start_nodes",
            f"node '{extra.id}' is a second start node; only one is allowed "
            f"(the first is '{starts[0].id}')",
            node_id=extra.id,
            field="data.node_type",
        )
    if len(starts) == 1:
        start = starts[0]
        if start.id != "start":
            report.warning(
                "start_node_id_not_start",
                f"the start node's id is '{start.id}'; Kapso requires the id 'start'",
                node_id=start.id,
                field="id",
            )
        if not any(edge.source == start.id for edge in edges):
            report.warning(
                "start_node_without_edge",
                f"start node '{start.id}' has no outgoing edge; executions end at once",
                node_id=start.id,
            )


def check_outgoing_edges(
    nodes: list[CheckedNode], edges: list[CheckedEdge], report: ValidationReport
) -> None:
    outgoing: dict[str, list[CheckedEdge]] = {}
    for edge in edges:
        outgoing.setdefault(edge.source, []).append(edge)
    checked: set[str] = set()
    for node in nodes:
        if node.id in checked or node.node_type not in NODE_TYPES:
            continue  # duplicates are ambiguous; unknown types already reported
        checked.add(node.id)
        out = outgoing.get(node.id, [])
        if node.node_type == "decide":
            if isinstance(node.config, DecideConfig):
                _check_decide_edges(node, node.config, out, report)
        else:
            _check_plain_edges(node, out, report)


def _check_plain_edges(node: CheckedNode, out: list[CheckedEdge], report: ValidationReport) -> None:
    if len(out) > 1:
        code = (
            "multiple_start_edges" if node.node_type == "start" else "non_decision_multiple_edges"
        )
        targets = ", ".join(f"'{edge.target}'" for edge in out)
        report.error(
            code,
            f"node '{node.id}' ({node.node_type}) has {len(out)} outgoing edges "
            f"(to {targets}); at most one 'next' edge is allowed; use a decide node "
            "to branch",
            node_id=node.id,
        )
    for edge in out:
        if edge.label != "next":
            report.error(
                "non_decision_edge_label",
                f"{edge.describe()}: a {node.node_type} node's edge must be labelled 'next'",
                node_id=node.id,
                field=f"edges[{edge.index}].label",
                edge_id=edge.edge.id,
            )
    if node.node_type == "handoff" and out:
        report.warning(
            "handoff_outgoing_edges",
            f"handoff node '{node.id}' has an outgoing edge, but a handoff never "
            "advances automatically",
            node_id=node.id,
        )


def _check_decide_edges(
    node: CheckedNode, config: DecideConfig, out: list[CheckedEdge], report: ValidationReport
) -> None:
    labels = config.labels
    by_condition_id = {c.id: c for c in config.conditions if c.id}
    used: dict[str, int] = {}
    for edge in out:
        where = {"node_id": node.id, "edge_id": edge.edge.id}
        condition_id = edge.edge.flow_condition_id
        if condition_id is not None:
            condition = by_condition_id.get(condition_id)
            if condition is None:
                report.error(
                    "unknown_flow_condition_id",
                    f"{edge.describe()}: flow_condition_id '{condition_id}' is not a "
                    f"condition of decide node '{node.id}'",
                    field=f"edges[{edge.index}].flow_condition_id",
                    **where,
                )
            elif condition.label != edge.label:
                report.error(
                    "flow_condition_label_mismatch",
                    f"{edge.describe()}: flow_condition_id '{condition_id}' belongs to "
                    f"condition '{condition.label}'",
                    field=f"edges[{edge.index}].label",
                    **where,
                )
        if edge.label not in labels:
            report.error(
                "unknown_decision_edge_label",
                f"{edge.describe()}: decide node '{node.id}' has no condition labelled "
                f"'{edge.label}' (conditions: {', '.join(labels) or 'none'})",
                field=f"edges[{edge.index}].label",
                **where,
            )
            continue
        used[edge.label] = used.get(edge.label, 0) + 1
        if used[edge.label] > 1:
            report.error(
                "duplicate_edge_label",
                f"{edge.describe()}: decide node '{node.id}' already has an edge for "
                f"'{edge.label}'; each condition takes exactly one edge",
                field=f"edges[{edge.index}].label",
                **where,
            )
    for index, label in enumerate(labels):
        if label not in used and label.strip():
            report.error(
                "missing_decision_edge",
                f"decide node '{node.id}': condition '{label}' has no outgoing edge "
                f"labelled '{label}'",
                node_id=node.id,
                field=f"config.conditions[{index}].label",
            )
