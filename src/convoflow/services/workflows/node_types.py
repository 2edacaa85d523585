"""The node-type catalogue the console's editor builds its palette and forms from
(`GET /platform/v1/node_types`, our extension): each type's config JSON Schema straight
from its pydantic model in `graph/nodes/<type>.py`, its WhatsApp and engine limits, the
label Kapso's editor shows and an icon hint. Derived from `graph.nodes.REGISTRY`, so a new
node type appears here without touching this module."""

from __future__ import annotations

import sys
from functools import cache
from typing import Any

from convoflow.graph.nodes import REGISTRY, NodeType
from convoflow.graph.nodes._base import MessageFields

# The console maps these hints to its own icons; unknown types fall back to "node".
ICONS: dict[str, str] = {
    "start": "play",
    "send_text": "message",
    "send_interactive": "buttons",
    "send_template": "template",
    "wait_for_response": "hourglass",
    "decide": "branch",
    "webhook": "globe",
    "function": "code",
    "set_variable": "variable",
    "handoff": "person",
    "call": "subflow",
    "agent": "sparkles",
    "emit_event": "bolt",
}

# The fields shown first in the editor's card and form: what a person recognises the node by.
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "send_text": ("message",),
    "send_interactive": ("body_text", "buttons"),
    "send_template": ("template_name",),
    "wait_for_response": ("timeout_seconds", "save_response_to"),
    "decide": ("decision_type", "conditions"),
    "webhook": ("method", "url"),
    "function": ("function_name",),
    "set_variable": ("variable_name", "variable_value"),
    "handoff": ("reason",),
    "call": ("workflow_name",),
    "agent": ("system_prompt",),
    "emit_event": ("event_name",),
}


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
        "icon": ICONS.get(node.name, "node"),
        "stepable_type": node.stepable_type,
        "key_fields": list(KEY_FIELDS.get(node.name, ())),
        "advanced_fields": advanced,
        "limits": _limits(node),
        "config_schema": node.config.model_json_schema(),
    }


@cache
def catalogue() -> list[dict[str, Any]]:
    """Every node type, in the registry's (name) order. Computed once: it is static."""
    return [_entry(node) for node in REGISTRY]
