"""`GET /workflows/{id}/variables`: the fixed variables every execution has, and the ones
discovered in the contexts of the workflow's recent executions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# How many of the newest executions discovery looks at (bounded: it is a read per request).
DISCOVERY_WINDOW = 200
MAX_SAMPLES = 5


def _fixed(kind: str, description: str, always: bool = True) -> dict[str, Any]:
    return {"type": kind, "description": description, "always_available": always}


FIXED: dict[str, dict[str, dict[str, Any]]] = {
    "system": {
        "system.flow_id": _fixed("string", "Workflow identifier"),
        "system.workflow_id": _fixed("string", "Workflow identifier"),
        "system.flow_name": _fixed("string", "Workflow name"),
        "system.execution_id": _fixed("string", "Execution identifier"),
        "system.started_at": _fixed("datetime", "Execution start time"),
        "system.trigger_type": _fixed("string", "How the execution started"),
        "system.tracking_id": _fixed("string", "Tracking id returned when it started"),
        "system.last_resume": _fixed("object", "Why and when the last wait ended", False),
    },
    "context": {
        "context.channel": _fixed("string", "Channel (whatsapp or sandbox)", False),
        "context.phone_number": _fixed("string", "Contact phone number", False),
        "context.conversation_id": _fixed("string", "Conversation identifier", False),
        "context.phone_number_id": _fixed("string", "WhatsApp phone number id", False),
        "context.contact": _fixed("object", "Contact details", False),
    },
}


def json_type(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass
class _Seen:
    type: str | None = None
    samples: list[Any] = field(default_factory=list)
    count: int = 0
    last_seen: datetime | None = None

    def add(self, value: Any, when: datetime | None) -> None:
        self.count += 1
        self.type = self.type or json_type(value)
        # Kapso's schema allows scalar and object samples, not arrays.
        if (
            not isinstance(value, list)
            and value not in self.samples
            and len(self.samples) < MAX_SAMPLES
        ):
            self.samples.append(value)
        if when is not None and (self.last_seen is None or when > self.last_seen):
            self.last_seen = when


@dataclass(frozen=True)
class Discovered:
    """A variable seen in recent executions' contexts."""

    namespace: str
    name: str
    type: str | None
    samples: list[Any]
    count: int
    last_seen: datetime | None


@dataclass(frozen=True)
class WorkflowVariables:
    fixed: dict[str, dict[str, dict[str, Any]]]  # namespace -> path -> description
    discovered: dict[str, list[Discovered]]  # namespace -> variables, by name


def discover(contexts: list[tuple[dict[str, Any], datetime]]) -> dict[str, list[Discovered]]:
    """Variables per namespace (`vars`, and `system`/`context` keys that are not fixed)."""
    found: dict[str, dict[str, _Seen]] = {"system": {}, "context": {}, "vars": {}}
    for context, when in contexts:
        for namespace, seen in found.items():
            values = context.get(namespace)
            if not isinstance(values, dict):
                continue
            for name, value in values.items():
                path = f"{namespace}.{name}"
                if path in FIXED.get(namespace, {}):
                    continue
                seen.setdefault(str(name), _Seen()).add(value, when)
    return {
        namespace: [
            Discovered(namespace, name, item.type, item.samples, item.count, item.last_seen)
            for name, item in sorted(seen.items())
        ]
        for namespace, seen in found.items()
    }
