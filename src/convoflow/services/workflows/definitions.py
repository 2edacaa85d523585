"""Definitions as the API stores and returns them.

Clients may omit what Kapso's editor fills in (positions, node `type`, display names,
edge ids, decide condition ids). We fill them in once, when a version is written, so the
stored definition is exactly what `GET /workflows/{id}/definition` returns and ids stay
stable across reads. PATCH has replace semantics per collection: `nodes` (or `edges`)
present = the complete new set; absent = unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from convoflow.engine.cpu import CpuPool, definition_items
from convoflow.engine.graphs import Entry, checked_entry, compile_entry
from convoflow.graph.models import Definition
from convoflow.graph.nodes import REGISTRY
from convoflow.graph.problems import Problem, ValidationReport
from convoflow.graph.validation import validate_definition
from convoflow.ids import new_id
from convoflow.services.common import FieldProblem, Invalid, invalid
from convoflow.store.db import JsonText, serialised

DISPLAY_NAMES = {node.name: node.display_name for node in REGISTRY}

EMPTY_DEFINITION: dict[str, Any] = {"nodes": [], "edges": []}


def details(problems: list[Problem]) -> list[dict[str, Any]]:
    """Problems as the `details` of a 422: node id, field and code of each."""
    return [
        {
            "code": p.code,
            "message": p.message,
            "node_id": p.node_id,
            "field": p.field,
            "edge_id": p.edge_id,
        }
        for p in problems
    ]


def _count(problems: list[Problem]) -> str:
    return f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"


def check_storable(raw: Any) -> ValidationReport:
    """The report of `raw`; Invalid listing the malformed-shape problems if it cannot be
    stored even as a draft (graph-level problems are allowed: see graph.validation)."""
    report = validate_definition(raw)
    malformed = report.malformed
    if malformed:
        shown = "; ".join(problem.message for problem in malformed[:3])
        raise Invalid(
            f"definition is malformed ({_count(malformed)}): {shown}"
            + (f" (and {len(malformed) - 3} more)" if len(malformed) > 3 else ""),
            details(malformed),
        )
    return report


async def report_of(cpu: CpuPool, raw: dict[str, Any], max_nodes: int) -> ValidationReport:
    """Every problem of a definition being edited (nothing stored). Off the event loop
    (a worker process for a large one: `prepare` says why). A definition over the node
    cap is refused (422) as its save would be, before any of it is checked."""
    check_node_count(raw, max_nodes)
    return await cpu.run(definition_items(raw), validate_definition, raw)


def require_valid(report: ValidationReport, what: str, also: Sequence[FieldProblem] = ()) -> None:
    """Invalid listing every error of `report` and every problem in `also` (checks that
    need the database, such as numbers of another project), for `what` an active
    workflow may not do with a definition that has problems (activate, save, start)."""
    if report.valid and not also:
        return
    shown = [problem.message for problem in report.errors]
    shown += [f"{problem.field}: {problem.message}" for problem in also]
    more = len(shown) - 3
    summary = "; ".join(shown[:3]) + (f" (and {more} more)" if more > 0 else "")
    count = len(shown)
    raise Invalid(
        f"{what}: the definition has {count} problem{'s' if count != 1 else ''}: {summary}",
        details(report.errors) + [problem.to_dict() for problem in also],
    )


async def prepare(
    cpu: CpuPool, current: Any, update: dict[str, Any], max_nodes: int
) -> tuple[dict[str, Any], Entry]:
    """The stored form of `update` applied to `current` (merged, refused if malformed by
    `check_storable`, normalised; graph-level problems are kept: drafts may have them),
    and the graph cache's entry for it: the caller seeds the cache with it once the
    version is written, so neither the response nor the first run compiles it again.

    This is about a second of CPU for a 2 MB definition, so it runs off the event loop:
    in one of `cpu`'s worker processes when the definition is large, in a thread when it
    is small. The node count is checked first, on every definition (drafts too): it is
    a size limit, not a graph problem."""
    merged = merge(current, update)
    check_node_count(merged, max_nodes)
    items = definition_items(merged)
    return await cpu.run(items, prepared_and_compiled, merged, in_process=prepared_and_checked)


async def prepare_new(
    cpu: CpuPool, definition: dict[str, Any], max_nodes: int
) -> tuple[dict[str, Any] | JsonText, Entry]:
    """`prepare` for a new workflow, whose stored form is only written, never read here:
    from a worker process it comes back as the JSON the column stores (one string to
    unpickle, nothing to serialise on the event loop), from a thread as the dict."""
    merged = merge(None, definition)
    check_node_count(merged, max_nodes)
    items = definition_items(merged)
    prepared: tuple[dict[str, Any] | JsonText, Entry] = await cpu.run(
        items, prepared_and_compiled, merged, in_process=prepared_serialised_and_checked
    )
    return prepared


def prepared_serialised_and_checked(merged: dict[str, Any]) -> tuple[JsonText, Entry]:
    """`prepare_new`'s work in a worker process. Pure."""
    stored, entry = prepared_and_checked(merged)
    return serialised(stored), entry


def prepared_and_compiled(merged: dict[str, Any]) -> tuple[dict[str, Any], Entry]:
    """`prepare`'s work in a thread. Pure."""
    stored = _checked_and_normalized(merged)
    return stored, compile_entry(stored)


def prepared_and_checked(merged: dict[str, Any]) -> tuple[dict[str, Any], Entry]:
    """`prepare`'s work in a worker process: the graph is compiled but not sent back
    (engine/graphs.py, `Checked`, says why). Pure."""
    stored = _checked_and_normalized(merged)
    return stored, checked_entry(stored)


def check_node_count(definition: dict[str, Any], max_nodes: int) -> None:
    nodes = definition.get("nodes")
    if isinstance(nodes, list) and len(nodes) > max_nodes:
        message = (
            f"a definition may hold at most {max_nodes} nodes (CONVOFLOW_MAX_NODES); "
            f"this one has {len(nodes)}"
        )
        raise invalid([FieldProblem("definition.nodes", message, "too_many_nodes")])


def _checked_and_normalized(merged: dict[str, Any]) -> dict[str, Any]:
    check_storable(merged)
    return normalize(merged)


def merge(current: Any, update: dict[str, Any]) -> dict[str, Any]:
    """Kapso's PATCH semantics: a collection present in `update` replaces the current one."""
    base = current if isinstance(current, dict) else EMPTY_DEFINITION
    return {
        "nodes": update["nodes"] if "nodes" in update else base.get("nodes", []),
        "edges": update["edges"] if "edges" in update else base.get("edges", []),
    }


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a definition that is not malformed (call `check_storable`
    first); graph-level problems are kept as they are."""
    try:
        parsed = Definition.model_validate(raw)
    except ValidationError as exc:  # the shape check passed: a gap between the two
        raise Invalid(f"definition is invalid: {exc.errors()[0]['msg']}") from exc
    nodes: list[dict[str, Any]] = []
    condition_ids: dict[tuple[str, str], str] = {}
    for node in parsed.nodes:
        config = dict(node.data.config)
        if node.data.node_type == "decide" and isinstance(config.get("conditions"), list):
            config["conditions"] = _with_condition_ids(node.id, config["conditions"], condition_ids)
        nodes.append(
            {
                "id": node.id,
                "type": "flow-node",
                "position": {"x": node.position.x, "y": node.position.y},
                "data": {
                    "node_type": node.data.node_type,
                    "config": config,
                    "display_name": node.data.display_name
                    or DISPLAY_NAMES.get(node.data.node_type, node.data.node_type),
                },
            }
        )
    edges = []
    for edge in parsed.edges:
        condition_id = condition_ids.get((edge.source, edge.label))
        edges.append(
            {
                "id": edge.id or new_id(),
                "source": edge.source,
                "target": edge.target,
                "label": edge.label,
                "type": "default",
                "flow_condition_id": condition_id,
            }
        )
    return {"nodes": nodes, "edges": edges}


def _with_condition_ids(
    node_id: str, conditions: list[Any], seen: dict[tuple[str, str], str]
) -> list[Any]:
    result = []
    for condition in conditions:
        if isinstance(condition, dict):
            condition = dict(condition)
            if not condition.get("id"):
                condition["id"] = new_id()
            seen[(node_id, str(condition.get("label")))] = str(condition["id"])
        result.append(condition)
    return result


def legacy(definition: dict[str, Any]) -> dict[str, Any]:
    """The older flows API spelled node data in camelCase (`nodeType`, `displayName`)."""
    nodes = [
        {
            **{k: v for k, v in node.items() if k != "data"},
            "data": {
                "nodeType": node["data"]["node_type"],
                "config": node["data"]["config"],
                "displayName": node["data"]["display_name"],
            },
        }
        for node in definition.get("nodes", [])
    ]
    return {"nodes": nodes, "edges": list(definition.get("edges", []))}
