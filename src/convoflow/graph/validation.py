"""Validate a raw (JSON-decoded) definition: every problem at once, each with a stable code.

Codes follow ``@kapso/workflows`` where it has one (``missing_start_node``,
``button_title_too_long``...); the others are ours. ``validate_definition`` never raises:
a definition that is not even an object is just another error.

Errors come in two kinds. *Malformed* ones (``Problem.malformed``: wrong JSON types in the
skeleton, e.g. a node that is not an object, ``config`` that is not an object, an edge
without a string ``target``) mean the definition cannot be stored at all. The others are
graph-level (dangling edges, no start node, missing or invalid config, unknown node
types): a draft may hold them; an active workflow may not (docs/api.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, get_args

from pydantic import ValidationError
from pydantic_core.core_schema import ErrorType

from convoflow.graph._checked import CheckedEdge, CheckedNode
from convoflow.graph.edge_rules import check_outgoing_edges, check_start
from convoflow.graph.lints import run_lints
from convoflow.graph.models import NODE_ID_PATTERN, Edge, Node
from convoflow.graph.nodes import NODE_TYPES, NodeConfig
from convoflow.graph.problems import Problem, ValidationReport

__all__ = ["Problem", "ValidationReport", "check_definition", "validate_definition"]

_NODE_ID = re.compile(NODE_ID_PATTERN)
_PYDANTIC_ERROR_TYPES = frozenset(get_args(ErrorType))


def validate_definition(raw: Any, *, known_vars: Iterable[str] = ()) -> ValidationReport:
    """All errors and warnings of a raw definition ``{"nodes": [...], "edges": [...]}``.

    ``known_vars`` are variables supplied from outside the graph (start ``variables``),
    so reading them is not reported as ``variable_never_written``.
    """
    report, _, _ = check_definition(raw, known_vars=known_vars)
    return report


def check_definition(
    raw: Any, *, known_vars: Iterable[str] = ()
) -> tuple[ValidationReport, list[CheckedNode], list[CheckedEdge]]:
    """Like ``validate_definition`` but also returns what was parsed (for compiling)."""
    report = ValidationReport()
    lists = _top_level_lists(raw, report)
    if lists is None:
        return report, [], []
    raw_nodes, raw_edges = lists
    nodes = [node for i, item in enumerate(raw_nodes) if (node := _check_node(i, item, report))]
    _check_duplicate_ids(nodes, report)
    node_ids = {node.id for node in nodes}
    edges = [e for i, item in enumerate(raw_edges) if (e := _check_edge(i, item, node_ids, report))]
    _check_duplicate_edge_ids(edges, report)
    check_start(nodes, raw_nodes, edges, report)
    check_outgoing_edges(nodes, edges, report)
    run_lints(nodes, edges, report, known_vars=set(known_vars))
    return report, nodes, edges


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _top_level_lists(raw: Any, report: ValidationReport) -> tuple[list[Any], list[Any]] | None:
    if not isinstance(raw, dict):
        report.shape_error(
            "invalid_definition",
            f"the definition must be an object with 'nodes' and 'edges'; got {_kind(raw)}",
        )
        return None
    raw_nodes = raw.get("nodes")
    raw_edges = raw.get("edges")
    ok = True
    if not isinstance(raw_nodes, list):
        what = "is missing" if raw_nodes is None else f"is {_kind(raw_nodes)}"
        report.shape_error(
            "invalid_nodes", f"nodes {what}; expected a list of nodes", field="nodes"
        )
        ok = False
    if raw_edges is not None and not isinstance(raw_edges, list):
        report.shape_error(
            "invalid_edges", f"edges is {_kind(raw_edges)}; expected a list of edges", field="edges"
        )
        ok = False
    if not ok:
        return None
    assert isinstance(raw_nodes, list)
    if not raw_nodes:
        report.error("empty_definition", "the definition has no nodes; it needs a start node")
    return raw_nodes, raw_edges or []


def format_loc(loc: Sequence[str | int]) -> str:
    """("buttons", 2, "title") → "buttons[2].title"."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _check_node(index: int, raw: Any, report: ValidationReport) -> CheckedNode | None:
    where = f"nodes[{index}]"
    if not isinstance(raw, dict):
        report.shape_error(
            "invalid_node", f"{where} is {_kind(raw)}; expected an object", field=where
        )
        return None
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id:
        code = "missing_node_id" if node_id in (None, "") else "invalid_node_id"
        report.shape_error(
            code,
            f"{where} has no usable id; expected a string like 'send_intro'",
            field=f"{where}.id",
        )
        return None
    if not _NODE_ID.match(node_id):
        report.error(
            "invalid_node_id",
            f"node id '{node_id}' must start with a letter and contain only letters, digits, "
            "'_' or '-'",
            node_id=node_id,
            field="id",
        )
    try:
        Node.model_validate(raw)
    except ValidationError as exc:
        _node_structure_problems(node_id, exc, report)
    data: dict[str, Any] = raw["data"] if isinstance(raw.get("data"), dict) else {}
    node_type = data.get("node_type", data.get("nodeType"))
    node_type = node_type if isinstance(node_type, str) else None
    display_name = data.get("display_name")
    raw_config = data.get("config")
    raw_config = {} if raw_config is None else raw_config
    node = CheckedNode(
        index,
        node_id,
        node_type,
        raw_config if isinstance(raw_config, dict) else {},
        None,
        display_name if isinstance(display_name, str) else None,
    )
    if node_type is not None:
        node.config = _check_config(node_id, node_type, raw_config, report)
    return node


def _node_structure_problems(node_id: str, exc: ValidationError, report: ValidationReport) -> None:
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        field = format_loc(loc)
        if loc[:1] == ("id",) or loc[:2] == ("data", "config"):
            continue  # reported by the id check and by config validation
        if loc == ("data",):
            report.shape_error(
                "missing_node_data",
                f"node '{node_id}': data must be an object with node_type and config",
                node_id=node_id,
                field="data",
            )
        elif loc[:2] == ("data", "node_type"):
            report.shape_error(
                "missing_node_type",
                f"node '{node_id}': data.node_type must be a node type name "
                f"(one of {', '.join(NODE_TYPES)})",
                node_id=node_id,
                field="data.node_type",
            )
        elif loc[:1] == ("position",):
            report.shape_error(
                "invalid_position",
                f"node '{node_id}': position must be an object with numeric x and y "
                f"({field}: {err['msg']})",
                node_id=node_id,
                field=field,
            )
        else:
            report.shape_error(
                "invalid_node",
                f"node '{node_id}': {field}: {err['msg']}",
                node_id=node_id,
                field=field,
            )


def _check_config(
    node_id: str, node_type: str, raw_config: Any, report: ValidationReport
) -> NodeConfig | None:
    model = NODE_TYPES.get(node_type)
    if model is None:
        report.error(
            "unknown_node_type",
            f"node '{node_id}': node_type '{node_type}' is not supported; "
            f"expected one of {', '.join(NODE_TYPES)}",
            node_id=node_id,
            field="data.node_type",
        )
    if not isinstance(raw_config, dict):
        report.shape_error(
            "invalid_config",
            f"node '{node_id}': config is {_kind(raw_config)}; expected an object",
            node_id=node_id,
            field="data.config",
        )
        return None
    if model is None:
        return None
    try:
        config = model.model_validate(raw_config)
    except ValidationError as exc:
        report.errors.extend(config_problems(node_id, exc))
        return None
    except Exception as exc:  # a validator bug must not break "never raises"
        report.error(
            "invalid_config",
            f"node '{node_id}': config could not be validated ({type(exc).__name__}: {exc})",
            node_id=node_id,
            field="data.config",
        )
        return None
    assert isinstance(config, NodeConfig)
    return config


def config_problems(node_id: str, exc: ValidationError) -> list[Problem]:
    """Turn a config ValidationError into problems; our validators' error types are codes."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        path = format_loc(tuple(err["loc"]))
        kind = err["type"]
        if path in seen and kind in _PYDANTIC_ERROR_TYPES:
            continue  # a union reports one error per member; one is enough
        seen.add(path)
        field = "config" + ("" if not path else (path if path.startswith("[") else f".{path}"))
        subject = path or "config"
        if kind == "missing":
            code, text = "empty_required_field", f"{subject} is required"
        elif kind in _PYDANTIC_ERROR_TYPES:
            code, text = "invalid_config", f"{subject}: {err['msg']}"
        else:
            code, text = kind, f"{subject} {err['msg']}"
        problems.append(Problem(code, f"node '{node_id}': {text}", node_id=node_id, field=field))
    return problems


def _check_duplicate_ids(nodes: list[CheckedNode], report: ValidationReport) -> None:
    seen: set[str] = set()
    for node in nodes:
        if node.id in seen:
            report.error(
                "duplicate_node_id",
                f"node id '{node.id}' is used by more than one node (nodes[{node.index}])",
                node_id=node.id,
                field=f"nodes[{node.index}].id",
            )
        seen.add(node.id)


def _check_edge(
    index: int, raw: Any, node_ids: set[str], report: ValidationReport
) -> CheckedEdge | None:
    where = f"edges[{index}]"
    if not isinstance(raw, dict):
        report.shape_error(
            "invalid_edge", f"{where} is {_kind(raw)}; expected an object", field=where
        )
        return None
    edge_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    try:
        edge = Edge.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            name = format_loc(tuple(err["loc"]))
            code = {"source": "missing_edge_source", "target": "missing_edge_target"}.get(
                name, "invalid_edge"
            )
            report.shape_error(
                code,
                f"{where}.{name}: {err['msg']} (expected a node id string)",
                field=f"{where}.{name}",
                edge_id=edge_id,
            )
        return None
    checked = CheckedEdge(index, edge)
    for end in ("source", "target"):
        value = getattr(edge, end)
        if value not in node_ids:
            report.error(
                f"missing_edge_{end}",
                f"{checked.describe()}: {end} node '{value}' does not exist",
                node_id=edge.source if end == "target" else None,
                field=f"{where}.{end}",
                edge_id=edge.id,
            )
    if not edge.label.strip():
        report.error(
            "empty_edge_label",
            f"{checked.describe()}: label must not be empty",
            node_id=edge.source,
            field=f"{where}.label",
            edge_id=edge.id,
        )
    return checked


def _check_duplicate_edge_ids(edges: list[CheckedEdge], report: ValidationReport) -> None:
    seen: set[str] = set()
    for item in edges:
        edge_id = item.edge.id
        if edge_id is not None and edge_id in seen:
            report.error(
                "duplicate_edge_id",
                f"edge id '{edge_id}' is used by more than one edge",
                field=f"edges[{item.index}].id",
                edge_id=edge_id,
            )
        if edge_id is not None:
            seen.add(edge_id)
