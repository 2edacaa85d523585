"""``handoff``: hand the conversation to a human; the execution stops advancing."""

from __future__ import annotations

from typing import Any

from convoflow.graph.nodes._base import NodeConfig

NODE_TYPE = "handoff"


class HandoffConfig(NodeConfig):
    reason: str | None = None
    context_data: Any = None
