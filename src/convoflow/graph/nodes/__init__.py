"""One module per node type; each defines the pydantic model of that node's ``config``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from convoflow.graph.nodes._base import NodeConfig, TextLimit
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

NODE_TYPES: dict[str, type[BaseModel]] = {
    "start": StartConfig,
    "send_text": SendTextConfig,
    "send_template": SendTemplateConfig,
    "send_interactive": SendInteractiveConfig,
    "wait_for_response": WaitForResponseConfig,
    "decide": DecideConfig,
    "function": FunctionConfig,
    "webhook": WebhookConfig,
    "agent": AgentConfig,
    "call": CallConfig,
    "handoff": HandoffConfig,
    "set_variable": SetVariableConfig,
    "emit_event": EmitEventConfig,
}

# Reaching one of these pauses the execution, so a loop through it cannot spin.
# (send_text with delay_seconds > 0 also pauses; see NodeConfig.is_waiting.)
WAITING_NODE_TYPES: frozenset[str] = frozenset({"wait_for_response", "agent", "call"})


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
]
