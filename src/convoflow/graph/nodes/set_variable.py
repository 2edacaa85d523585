"""``set_variable``: write ``vars.<variable_name>``, with type coercion."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from convoflow.graph.nodes._base import NodeConfig, NodeType, require_text

ValueType = Literal["string", "number", "boolean", "json"]


class SetVariableConfig(NodeConfig):
    variable_name: str
    variable_value: Any
    value_type: ValueType = "string"

    check_variable_name = field_validator("variable_name")(require_text)

    def written_variables(self) -> frozenset[str]:
        return frozenset({self.variable_name.split(".")[0]})


NODE = NodeType(
    name="set_variable",
    config=SetVariableConfig,
    display_name="Set Variable",
    stepable_type="FlowActionStep",
    icon="variable",
    key_fields=("variable_name", "variable_value"),
)
