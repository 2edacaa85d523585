"""``function``: invoke a project function; it may merge any ``vars`` it returns."""

from __future__ import annotations

from pydantic import field_validator

from convoflow.graph.nodes._base import NodeConfig, NodeType, require_text


class FunctionConfig(NodeConfig):
    function_id: str
    function_name: str | None = None
    save_response_to: str | None = None

    check_function_id = field_validator("function_id")(require_text)

    def written_variables(self) -> frozenset[str]:
        return frozenset({self.save_response_to}) if self.save_response_to else frozenset()

    def writes_any_variable(self) -> bool:
        return True  # the function's response ``vars`` are merged into the context


NODE = NodeType(
    name="function",
    config=FunctionConfig,
    display_name="Function",
    stepable_type="FlowFunctionStep",
    icon="code",
    key_fields=("function_name",),
)
