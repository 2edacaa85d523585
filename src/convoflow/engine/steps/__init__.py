"""One module per node type: `<name>.py` for each type declared in `graph/nodes/`. Each
exports `enter(run)` and, if the node can park, `on_signal(run, signal)` — see
engine/step.py.

`HANDLERS` is derived from the graph's registry, so a node type without its step module
stops the process at import (not when a flow first reaches such a node).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from convoflow.engine.step import ModuleHandler, StepHandler
from convoflow.graph.nodes import REGISTRY

if TYPE_CHECKING:
    from convoflow.graph.compiled import CompiledNode


class MissingStep(ImportError):
    """A node type declared in graph/nodes/ has no step module here."""


def _handler(node_type: str) -> StepHandler:
    try:
        module = importlib.import_module(f"{__name__}.{node_type}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{node_type}":
            raise
        raise MissingStep(
            f"node type {node_type!r} is declared in graph/nodes/{node_type}.py "
            f"but has no step module engine/steps/{node_type}.py"
        ) from exc
    return ModuleHandler(module.enter, getattr(module, "on_signal", None), node_type)


HANDLERS: dict[str, StepHandler] = {node.name: _handler(node.name) for node in REGISTRY}


class UnknownNodeType(Exception):
    pass


def handler_for(node: CompiledNode) -> StepHandler:
    handler = HANDLERS.get(node.node_type)
    if handler is None:
        raise UnknownNodeType(f"node {node.id!r} has unknown node_type {node.node_type!r}")
    return handler
