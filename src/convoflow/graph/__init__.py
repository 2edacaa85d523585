"""The flow definition language: models, node configs, validation, templating, expressions.

Pure: no I/O, no clock, no database. The engine runs ``CompiledGraph``; the API validates
with ``validate_definition`` and returns ``ValidationReport.to_dict()``.
"""

from __future__ import annotations

from convoflow.graph.compiled import (
    CompiledGraph,
    CompiledNode,
    InvalidDefinition,
    compile_definition,
)
from convoflow.graph.expressions import check_expression, evaluate_condition
from convoflow.graph.models import Definition, Edge, Node, NodeData, Position, load_flow_document
from convoflow.graph.nodes import NODE_TYPES, WAITING_NODE_TYPES, parse_config
from convoflow.graph.problems import Problem, ValidationReport
from convoflow.graph.templating import (
    RenderResult,
    referenced_paths,
    referenced_secrets,
    render_template,
    render_value,
)
from convoflow.graph.validation import validate_definition

__all__ = [
    "NODE_TYPES",
    "WAITING_NODE_TYPES",
    "CompiledGraph",
    "CompiledNode",
    "Definition",
    "Edge",
    "InvalidDefinition",
    "Node",
    "NodeData",
    "Position",
    "Problem",
    "RenderResult",
    "ValidationReport",
    "check_expression",
    "compile_definition",
    "evaluate_condition",
    "load_flow_document",
    "parse_config",
    "referenced_paths",
    "referenced_secrets",
    "render_template",
    "render_value",
    "validate_definition",
]
