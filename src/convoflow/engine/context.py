"""The execution context `{vars, system, context, metadata}` (kapso-reference.md §3.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from convoflow.clock import utc_iso


def build_context(
    *,
    workflow: Any,
    execution_id: str,
    trigger_type: str,
    tracking_id: str,
    now: datetime,
    variables: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    system_extra: dict[str, Any] | None = None,
    observer: bool = False,
) -> dict[str, Any]:
    system: dict[str, Any] = {
        "trigger_type": trigger_type,
        "workflow_id": workflow["id"],
        "flow_id": workflow["id"],
        "flow_name": workflow["name"],
        "execution_id": execution_id,
        "started_at": utc_iso(now),
        "tracking_id": tracking_id,
        "last_resume": None,
        "call_stack": [workflow["id"]],
    }
    if observer:
        system["observer_mode"] = True
        system["allow_outbound"] = False
    if system_extra:
        system.update(system_extra)
    return {
        "vars": dict(variables or {}),
        "system": system,
        "context": dict(context or {}),
        "metadata": dict(metadata or {}),
    }
