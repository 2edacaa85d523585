"""One module per node type. Each exports NODE_TYPE, `enter(run)` and, if the node can
park, `on_signal(run, signal)` — see engine/step.py."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from convoflow.engine.step import ModuleHandler, StepHandler
from convoflow.engine.steps import (
    agent,
    call,
    decide,
    emit_event,
    function,
    handoff,
    send_interactive,
    send_template,
    send_text,
    set_variable,
    start,
    wait_for_response,
    webhook,
)

if TYPE_CHECKING:
    from convoflow.graph.compiled import CompiledNode

_MODULES: tuple[ModuleType, ...] = (
    start,
    send_text,
    send_template,
    send_interactive,
    wait_for_response,
    decide,
    function,
    webhook,
    agent,
    call,
    handoff,
    set_variable,
    emit_event,
)

HANDLERS: dict[str, StepHandler] = {
    module.NODE_TYPE: ModuleHandler(
        module.enter, getattr(module, "on_signal", None), module.NODE_TYPE
    )
    for module in _MODULES
}


class UnknownNodeType(Exception):
    pass


def handler_for(node: CompiledNode) -> StepHandler:
    handler = HANDLERS.get(node.node_type)
    if handler is None:
        raise UnknownNodeType(f"node {node.id!r} has unknown node_type {node.node_type!r}")
    return handler
