"""One module per node type: ``<name>.py`` defines the pydantic model of that node's
``config`` and declares the type once, as ``NODE = NodeType(...)``.

``REGISTRY`` is found by importing every public module of this package in name order (no
list to extend), so adding a node type here is adding its file. The config classes are
re-exported below for the modules that name one; a new type need not be.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from pydantic import BaseModel

from convoflow.graph.nodes._base import NodeConfig, NodeType, TextLimit
from convoflow.graph.nodes.agent import AgentConfig
from convoflow.graph.nodes.call import CallConfig
from convoflow.graph.nodes.decide import DecideCondition, DecideConfig
from convoflow.graph.nodes.emit_event import EmitEventConfig
from convoflow.graph.nodes.function import FunctionConfig
from convoflow.graph.nodes.handoff import HandoffConfig
from convoflow.graph.nodes.send_interactive import (
    InteractiveButton,
    ListRow,
    ListSection,
    SendInteractiveConfig,
)
from convoflow.graph.nodes.send_template import SendTemplateConfig
from convoflow.graph.nodes.send_text import SendTextConfig
from convoflow.graph.nodes.set_variable import SetVariableConfig
from convoflow.graph.nodes.start import StartConfig
from convoflow.graph.nodes.wait_for_response import BUILTIN_VARIABLES, WaitForResponseConfig
from convoflow.graph.nodes.webhook import WebhookConfig


class BadNodeModule(ImportError):
    """A module of this package does not declare its node type as expected."""


def _declared() -> tuple[NodeType, ...]:
    found = []
    for info in pkgutil.iter_modules(__path__):  # sorted by name: a stable order
        if info.name.startswith("_"):
            continue
        declared = getattr(importlib.import_module(f"{__name__}.{info.name}"), "NODE", None)
        if not isinstance(declared, NodeType) or declared.name != info.name:
            raise BadNodeModule(
                f"graph/nodes/{info.name}.py must declare NODE = NodeType(name={info.name!r}, ...)"
            )
        found.append(declared)
    return tuple(found)


REGISTRY: tuple[NodeType, ...] = _declared()

NODE_TYPES: dict[str, type[BaseModel]] = {node.name: node.config for node in REGISTRY}

# Reaching one of these pauses the execution, so a loop through it cannot spin.
# (send_text with delay_seconds > 0 also pauses; see NodeConfig.is_waiting.)
WAITING_NODE_TYPES: frozenset[str] = frozenset(node.name for node in REGISTRY if node.waits)


def pauses(node_type: str | None, config: NodeConfig | None) -> bool:
    """Reaching this node pauses the execution: its type always does, or its config does
    (None: the config did not validate, so only the type can tell)."""
    return node_type in WAITING_NODE_TYPES or (config is not None and config.is_waiting())


class UnknownNodeType(ValueError):
    """``parse_config`` was given a node_type that convoflow does not implement."""


def parse_config(node_type: str, config: dict[str, Any]) -> BaseModel:
    """The typed config of a node; raises pydantic ``ValidationError`` on a bad config."""
    model = NODE_TYPES.get(node_type)
    if model is None:
        raise UnknownNodeType(f"unknown node_type {node_type!r}")
    return model.model_validate(config)


__all__ = [
    "BUILTIN_VARIABLES",
    "NODE_TYPES",
    "REGISTRY",
    "WAITING_NODE_TYPES",
    "AgentConfig",
    "CallConfig",
    "DecideCondition",
    "DecideConfig",
    "EmitEventConfig",
    "FunctionConfig",
    "HandoffConfig",
    "InteractiveButton",
    "ListRow",
    "ListSection",
    "NodeConfig",
    "NodeType",
    "SendInteractiveConfig",
    "SendTemplateConfig",
    "SendTextConfig",
    "SetVariableConfig",
    "StartConfig",
    "TextLimit",
    "UnknownNodeType",
    "WaitForResponseConfig",
    "WebhookConfig",
    "parse_config",
    "pauses",
]
