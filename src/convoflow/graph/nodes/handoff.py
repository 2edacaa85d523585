"""``handoff``: hand the conversation to a human; the execution stops advancing."""

from __future__ import annotations

from typing import Any

from convoflow.graph.nodes._base import NodeConfig, NodeType


class HandoffConfig(NodeConfig):
    reason: str | None = None
    context_data: Any = None


NODE = NodeType(
    name="handoff",
    config=HandoffConfig,
    display_name="Handoff",
    stepable_type="FlowActionStep",
    icon="person",
    key_fields=("reason",),
)
