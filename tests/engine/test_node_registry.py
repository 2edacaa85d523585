"""Every node type is declared once and has every part: a config model, a step module, a
display name, Kapso's stepable_type, whether it always waits, and the editor's icon hint
and key fields (which must be fields of its config).

The sets are read from the packages' files, not from a list kept here, so a config module
without its step (or a step without its config module) fails this test.
"""

from __future__ import annotations

import inspect
import pkgutil
from types import ModuleType

import convoflow.engine.steps as steps_package
import convoflow.graph.nodes as nodes_package
from convoflow.api.views import STEPABLE_TYPES
from convoflow.engine.step import ModuleHandler
from convoflow.engine.steps import HANDLERS
from convoflow.graph.nodes import NODE_TYPES, REGISTRY, WAITING_NODE_TYPES, NodeConfig
from convoflow.services.workflows.definitions import DISPLAY_NAMES
from convoflow.services.workflows.node_types import catalogue

# Kapso's Ruby step classes (openapi-workflows.yaml, WorkflowStep.stepable_type).
KAPSO_STEP_CLASSES = {
    "FlowStartStep",
    "FlowActionStep",
    "FlowWaitStep",
    "FlowDecideStep",
    "FlowAgentStep",
    "FlowCallStep",
    "FlowFunctionStep",
}


def public_modules(package: ModuleType) -> set[str]:
    return {info.name for info in pkgutil.iter_modules(package.__path__) if info.name[0] != "_"}


def test_each_config_module_has_a_step_module_and_the_reverse() -> None:
    declared = {node.name for node in REGISTRY}
    assert len(declared) == len(REGISTRY), "a node type is declared twice"
    assert public_modules(nodes_package) == declared
    assert public_modules(steps_package) == declared
    assert set(HANDLERS) == declared


def test_every_declared_type_has_every_part() -> None:
    for node in REGISTRY:
        assert issubclass(node.config, NodeConfig), node.name
        assert node.display_name.strip(), node.name
        assert node.stepable_type in KAPSO_STEP_CLASSES, node.name
        assert isinstance(node.waits, bool), node.name
        assert node.icon.strip() and node.icon != "node", node.name  # "node": unknown type
        assert set(node.key_fields) <= set(node.config.model_fields), node.name
        handler = HANDLERS[node.name]
        assert isinstance(handler, ModuleHandler), node.name
        step = inspect.getmodule(handler.enter_fn)
        assert step is not None and step.__name__ == f"convoflow.engine.steps.{node.name}"
        assert inspect.iscoroutinefunction(step.enter), node.name


def test_everything_else_derives_from_the_registry() -> None:
    assert {node.name: node.config for node in REGISTRY} == NODE_TYPES
    assert {node.name: node.display_name for node in REGISTRY} == DISPLAY_NAMES
    assert {node.name: node.stepable_type for node in REGISTRY} == STEPABLE_TYPES
    assert {node.name for node in REGISTRY if node.waits} == WAITING_NODE_TYPES
    editor = {entry["type"]: (entry["icon"], tuple(entry["key_fields"])) for entry in catalogue()}
    assert editor == {node.name: (node.icon, node.key_fields) for node in REGISTRY}
