"""The in-memory view of one execution row while it is being advanced."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping

_COLUMNS = (
    "id",
    "project_id",
    "workflow_id",
    "version_id",
    "status",
    "waiting_reason",
    "current_node_id",
    "cursor",
    "context",
    "version",
    "event_seq",
    "steps_since_wait",
    "tracking_id",
    "trigger_type",
    "observer",
    "conversation_id",
    "parent_execution_id",
    "depth",
    "error_details",
    "started_at",
    "ended_at",
    "last_event_at",
    "created_at",
    "updated_at",
)


@dataclass
class ExecutionState:
    id: str
    project_id: str
    workflow_id: str
    version_id: str
    status: str
    waiting_reason: str | None
    current_node_id: str | None
    cursor: dict[str, Any]
    context: dict[str, Any]
    version: int
    event_seq: int
    steps_since_wait: int
    tracking_id: str
    trigger_type: str
    observer: bool
    conversation_id: str | None
    parent_execution_id: str | None
    depth: int
    error_details: dict[str, Any] | None
    started_at: datetime
    ended_at: datetime | None
    last_event_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # True until the row is first inserted (a start, or a child created by a call step).
    is_new: bool = field(default=False)
    # The version read from the database: the compare-and-set guard for the update.
    loaded_version: int = field(default=0)

    @classmethod
    def fresh(
        cls,
        *,
        id: str,
        project_id: str,
        workflow_id: str,
        version_id: str,
        context: dict[str, Any],
        tracking_id: str,
        trigger_type: str,
        observer: bool,
        conversation_id: str | None,
        now: datetime,
        parent_execution_id: str | None = None,
        depth: int = 0,
    ) -> ExecutionState:
        """A new execution, running, before its first step."""
        return cls(
            id=id,
            project_id=project_id,
            workflow_id=workflow_id,
            version_id=version_id,
            status="running",
            waiting_reason=None,
            current_node_id=None,
            cursor={},
            context=context,
            version=0,
            event_seq=0,
            steps_since_wait=0,
            tracking_id=tracking_id,
            trigger_type=trigger_type,
            observer=observer,
            conversation_id=conversation_id,
            parent_execution_id=parent_execution_id,
            depth=depth,
            error_details=None,
            started_at=now,
            ended_at=None,
            last_event_at=now,
            created_at=now,
            updated_at=now,
        )

    @classmethod
    def from_row(cls, row: RowMapping) -> ExecutionState:
        values = {name: row[name] for name in _COLUMNS}
        values["cursor"] = dict(values["cursor"] or {})
        values["context"] = dict(values["context"] or {})
        state = cls(**values)
        state.loaded_version = state.version
        return state

    def to_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _COLUMNS}

    @property
    def vars(self) -> dict[str, Any]:
        result: dict[str, Any] = self.context.setdefault("vars", {})
        return result

    @property
    def system(self) -> dict[str, Any]:
        result: dict[str, Any] = self.context.setdefault("system", {})
        return result
