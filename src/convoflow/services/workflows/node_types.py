"""The node-type catalogue the console's editor builds its palette and forms from
(`GET /platform/v1/node_types`, our extension): each type's config JSON Schema straight
from its pydantic model in `graph/nodes/<type>.py`, its WhatsApp and engine limits, the
label Kapso's editor shows, an icon hint and the fields shown first. Derived from
`graph.nodes.REGISTRY` (each type's `NODE` declares its icon and key fields), so a new
node type appears here without touching this module."""

from __future__ import annotations

import sys
from functools import cache
from typing import Any

from convoflow.graph.nodes import REGISTRY, NodeType
from convoflow.graph.nodes._base import MessageFields


def _limits(node: NodeType) -> dict[str, int]:
    """The module's MAX_* / MIN_* integer constants: the numbers its validators enforce."""
    module = sys.modules[node.config.__module__]
    return {
        name.lower(): value
        for name, value in vars(module).items()
        if name.startswith(("MAX_", "MIN_")) and isinstance(value, int)
    }


def _entry(node: NodeType) -> dict[str, Any]:
    # Sender overrides every message node accepts: the form tucks them away.
    advanced = sorted(MessageFields.model_fields) if issubclass(node.config, MessageFields) else []
    return {
        "type": node.name,
        "label": node.display_name,
        "icon": node.icon,
        "stepable_type": node.stepable_type,
        "key_fields": list(node.key_fields),
        "advanced_fields": advanced,
        "limits": _limits(node),
        "config_schema": node.config.model_json_schema(),
    }


@cache
def catalogue() -> list[dict[str, Any]]:
    """Every node type, in the registry's (name) order. Computed once: it is static."""
    return [_entry(node) for node in REGISTRY]
