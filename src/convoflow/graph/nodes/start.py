"""``start``: the single entry node; no configuration, advances on ``next``."""

from __future__ import annotations

from convoflow.graph.nodes._base import NodeConfig, NodeType


class StartConfig(NodeConfig):
    """Empty config (unknown keys are kept for round-tripping)."""


NODE = NodeType(
    name="start",
    config=StartConfig,
    display_name="Start",
    stepable_type="FlowStartStep",
    icon="play",
)
