"""Small builders for Kapso-shaped definitions used across the graph tests."""

from __future__ import annotations

import itertools
from typing import Any

from convoflow.graph import ValidationReport, validate_definition


def node(node_id: str, node_type: str, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "flow-node",
        "position": {"x": 0, "y": 0},
        "data": {"node_type": node_type, "config": config, "display_name": node_id},
    }


def edge(source: str, target: str, label: str | None = "next", **extra: Any) -> dict[str, Any]:
    return {"source": source, "target": target, "label": label, **extra}


def definition(*nodes: dict[str, Any], edges: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"nodes": list(nodes), "edges": list(edges or [])}


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """start + the given nodes, each linked to the next with a 'next' edge."""
    all_nodes = [node("start", "start"), *nodes]
    links = [edge(a["id"], b["id"]) for a, b in itertools.pairwise(all_nodes)]
    return definition(*all_nodes, edges=links)


def text(node_id: str, message: str = "hello") -> dict[str, Any]:
    return node(node_id, "send_text", message=message)


def error_codes(report: ValidationReport) -> list[str]:
    return [problem.code for problem in report.errors]


def warning_codes(report: ValidationReport) -> list[str]:
    return [problem.code for problem in report.warnings]


def errors_of(raw: Any, code: str) -> list[Any]:
    return [problem for problem in validate_definition(raw).errors if problem.code == code]


def warnings_of(raw: Any, code: str, **kwargs: Any) -> list[Any]:
    report = validate_definition(raw, **kwargs)
    return [problem for problem in report.warnings if problem.code == code]
