"""Response bodies in Kapso's shapes (openapi-workflows.yaml component schemas).

Pure functions of rows and compiled graphs; the contract tests validate their output
against Kapso's OpenAPI file with jsonschema.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from convoflow.clock import utc_iso
from convoflow.graph.compiled import CompiledGraph
from convoflow.graph.nodes import REGISTRY
from convoflow.graph.problems import ValidationReport
from convoflow.services.conversations.skip_wait import Skipped, Timer
from convoflow.services.executions.commands import ExecutionInfo
from convoflow.services.workflows import history
from convoflow.services.workflows.variables import WorkflowVariables

# Stable ids for (definition version, node): Kapso's step ids are database uuids.
_STEP_NAMESPACE = uuid.UUID("5b0c7f8e-8a4a-4c1e-9d7a-3f1e2a6b9c10")

STEPABLE_TYPES = {node.name: node.stepable_type for node in REGISTRY}


@functools.lru_cache(maxsize=65536)
def step_id(version_id: str, node_id: str) -> str:
    # Deterministic, and a detail view needs one per event: uuid5 (SHA-1) once per pair.
    return str(uuid.uuid5(_STEP_NAMESPACE, f"{version_id}:{node_id}"))


def step_ref(version_id: str, node_id: str, graph: CompiledGraph | None) -> dict[str, Any]:
    node = graph.nodes.get(node_id) if graph is not None else None
    return {
        "id": step_id(version_id, node_id),
        "identifier": node_id,
        "stepable_type": STEPABLE_TYPES.get(node.node_type, "FlowActionStep") if node else None,
        "position": {"x": node.position.x, "y": node.position.y} if node else None,
    }


def workflow(row: Mapping[Any, Any], validation: ValidationReport) -> dict[str, Any]:
    """Kapso's Workflow, plus `validation`: the problems of its current definition."""
    return {
        "id": row["id"],
        "name": row["name"],
        "slug": row["slug"],
        "description": row["description"],
        "status": row["status"],
        "lock_version": row["lock_version"],
        "message_debounce_seconds": row["message_debounce_seconds"]
        if row["message_debounce_seconds"] is not None
        else 1,
        "agent_default_tools_version": row["agent_default_tools_version"],
        "inbound_message_read_mode": row["inbound_message_read_mode"] or "read_with_typing",
        "created_at": utc_iso(row["created_at"]),
        "updated_at": utc_iso(row["updated_at"]),
        "project_id": row["project_id"],
        "execution_count": row["execution_count"],
        "last_executed_at": utc_iso(row["last_executed_at"]),
        "validation": validation.to_dict(),
    }


def workflow_minimal(row: Mapping[Any, Any] | None, workflow_id: str) -> dict[str, Any]:
    if row is None:
        return {"id": workflow_id, "name": "", "status": "archived"}
    return {"id": row["id"], "name": row["name"], "status": row["status"]}


def trigger(row: Mapping[Any, Any]) -> dict[str, Any]:
    kind = row["trigger_type"]
    triggerable: dict[str, Any] = {}
    if kind == "inbound_message":
        triggerable = {"phone_number_id": row["phone_number_id"]}
    elif kind == "whatsapp_event":
        triggerable = {"event": row["event"]}
        if row["phone_number_id"]:
            triggerable["phone_number_id"] = row["phone_number_id"]
    elif kind == "project_event":
        triggerable = {
            "event_name": row["event_name"],
            "property_key": row["property_key"],
            "operator": row["operator"],
            "property_value": row["property_value"],
        }
    return {
        "id": row["id"],
        "workflow_id": row["workflow_id"],
        "trigger_type": kind,
        "active": bool(row["active"]),
        "display_name": row["display_name"],
        "created_at": utc_iso(row["created_at"]),
        "updated_at": utc_iso(row["updated_at"]),
        "triggerable": triggerable,
    }


def execution_summary(info: ExecutionInfo) -> dict[str, Any]:
    row = info.row
    view: dict[str, Any] = {
        "id": row["id"],
        "status": row["status"],
        "started_at": utc_iso(row["started_at"]),
        "ended_at": utc_iso(row["ended_at"]),
        "last_event_at": utc_iso(row["last_event_at"] or row["started_at"]),
        "tracking_id": row["tracking_id"],
        "whatsapp_conversation_id": row["conversation_id"],
        "workflow": workflow_minimal(info.workflow, str(row["workflow_id"])),
    }
    if row["current_node_id"]:
        view["current_step"] = step_ref(str(row["version_id"]), row["current_node_id"], info.graph)
    return view


def execution(info: ExecutionInfo) -> dict[str, Any]:
    """Kapso's WorkflowExecution: the summary plus error details."""
    view = execution_summary(info)
    view["error_details"] = info.row["error_details"]
    return view


def event(row: Mapping[Any, Any], version_id: str, graph: CompiledGraph | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row["id"],
        # Ours: the event's number in its execution (1, 2, 3, ...), the `id` its live
        # stream gives it: a client that read the events resumes the stream after it.
        "sequence": row["seq"],
        "event_type": row["event_type"],
        "direction": row["direction"],
        "edge_label": row["edge_label"],
        "created_at": utc_iso(row["created_at"]),
        "payload": row["payload"] or {},
    }
    if row["node_id"]:
        view["step"] = step_ref(version_id, row["node_id"], graph)
    return view


def execution_detail(
    info: ExecutionInfo, events: Sequence[Mapping[Any, Any]], resumable_execution_id: str | None
) -> dict[str, Any]:
    context = info.row["context"] or {}
    version_id = str(info.row["version_id"])
    graph = info.graph
    view = execution(info)
    view["resumable_execution_id"] = resumable_execution_id
    # Ours: the definition version the execution runs (GET .../versions/{id} serves its
    # graph), so an inspector draws the path on the graph it took, not today's.
    view["workflow_version_id"] = version_id
    view["execution_context"] = {
        "vars": context.get("vars") or {},
        "system": context.get("system") or {},
        "context": context.get("context") or {},
        "metadata": context.get("metadata") or {},
    }
    view["events"] = [event(row, version_id, graph) for row in events]
    return view


def resumed(info: ExecutionInfo) -> dict[str, Any]:
    view = execution_summary(info)
    view["requested_execution_id"] = info.requested_execution_id
    view["parent_flow_execution_id"] = info.row["parent_execution_id"]
    return view


def sandbox_message(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A message of the console's test chat (our extension)."""
    return {
        "id": row["id"],
        "direction": row["direction"],
        "message_type": row["message_type"],
        "content": row["content"],
        "execution_id": row["execution_id"],
        "created_at": utc_iso(row["created_at"]),
    }


def sandbox_timer(item: Timer) -> dict[str, Any]:
    """A pending timer of a sandbox conversation (our extension)."""
    return {
        "execution_id": item.execution_id,
        "purpose": item.purpose,
        "due_at": utc_iso(item.due_at),
    }


def skipped_timers(skipped: Skipped) -> dict[str, Any]:
    """`POST /sandbox/conversations/{id}/skip_wait`: what fired, what still waits."""
    return {
        "fired": [sandbox_timer(item) for item in skipped.fired],
        "still_pending": [sandbox_timer(item) for item in skipped.still_pending],
    }


def workflow_variables(found: WorkflowVariables) -> dict[str, Any]:
    """`GET /workflows/{id}/variables`: Kapso's fixed and discovered variables."""
    discovered = {
        namespace: [
            {
                "path": f"{namespace}.{item.name}",
                "name": item.name,
                "type": item.type,
                "sample_values": item.samples,
                "usage_count": item.count,
                "last_seen_at": utc_iso(item.last_seen),
                "reference": "{{" + f"{namespace}.{item.name}" + "}}",
            }
            for item in items
        ]
        for namespace, items in found.discovered.items()
    }
    return {"fixed": found.fixed, "discovered": discovered}


def workflow_version(
    row: Mapping[Any, Any],
    workflow: Mapping[Any, Any],
    *,
    with_definition: bool = False,
    validation: ValidationReport | None = None,
) -> dict[str, Any]:
    """One saved definition of a workflow (our extension: the editor's version history),
    with its problems when read alone."""
    nodes, edges = history.counts(row["definition"])
    body = {
        "id": row["id"],
        "number": row["number"],
        "created_at": utc_iso(row["created_at"]),
        "current": row["id"] == workflow["current_version_id"],
        "node_count": nodes,
        "edge_count": edges,
    }
    if with_definition:
        body["definition"] = row["definition"]
    if validation is not None:
        body["validation"] = validation.to_dict()
    return body
