"""Response bodies of Kapso's older flows API (`/api/v1`), field for field as its reference
pages show them. A flow is a workflow; `flow_id` is the workflow id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convoflow.api.views import step_id
from convoflow.clock import utc_iso
from convoflow.graph.problems import ValidationReport
from convoflow.services.executions.commands import ExecutionInfo

# q[status_eq] took Rails enum integers in the old API.
STATUS_CODES = {"0": "running", "1": "waiting", "2": "ended", "3": "failed", "4": "handoff"}


def flow(row: Mapping[Any, Any], validation: ValidationReport) -> dict[str, Any]:
    """A flow, plus `validation`: the problems of its current definition."""
    return {**_flow_fields(row), "validation": validation.to_dict()}


def _flow_fields(row: Mapping[Any, Any]) -> dict[str, Any]:
    created_by = row["created_by"] or {}
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "status": row["status"],
        "project_id": row["project_id"],
        "created_at": utc_iso(row["created_at"]),
        "updated_at": utc_iso(row["updated_at"]),
        "created_by": {"id": created_by.get("id"), "name": created_by.get("name")},
        "last_executed_at": utc_iso(row["last_executed_at"]),
        "execution_count": row["execution_count"],
    }


def whatsapp_config(number: Mapping[Any, Any]) -> dict[str, Any]:
    """One of a legacy flow definition's `whatsapp_configs`."""
    return {
        "id": number["id"],
        "name": number["name"],
        "phone_number": number["display_phone_number"],
    }


def execution(info: ExecutionInfo) -> dict[str, Any]:
    row = info.row
    context = row["context"] or {}
    node_id = row["current_node_id"]
    node = info.graph.nodes.get(node_id) if info.graph is not None and node_id else None
    current_step = None
    if node_id:
        current_step = {
            "id": step_id(str(row["version_id"]), node_id),
            "name": (node.display_name if node else None) or node_id,
            "step_type": node.node_type if node else None,
        }
    return {
        "id": row["id"],
        "flow_id": row["workflow_id"],
        "status": row["status"],
        "started_at": utc_iso(row["started_at"]),
        "ended_at": utc_iso(row["ended_at"]),
        "last_event_at": utc_iso(row["last_event_at"] or row["started_at"]),
        "tracking_id": row["tracking_id"],
        "current_step": current_step,
        "execution_context": context,
        "variables": context.get("vars") or {},
        # The flow as the execution knows it; its definition's problems are on flow reads.
        "flow": _flow_fields(info.workflow) if info.workflow is not None else None,
    }
