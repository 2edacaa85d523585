"""``call``: run another workflow as a child execution and wait for it to finish."""

from __future__ import annotations

from pydantic import model_validator

from convoflow.graph.nodes._base import NodeConfig, NodeType, problem, raise_problems

DEFAULT_ERROR_VARIABLE = "subworkflow_error"


class CallConfig(NodeConfig):
    workflow_id: str | None = None
    workflow_name: str | None = None
    save_error_to: str = DEFAULT_ERROR_VARIABLE

    @model_validator(mode="after")
    def _target_given(self) -> CallConfig:
        if not (self.workflow_id or "").strip() and not (self.workflow_name or "").strip():
            error = problem("empty_required_field", "must not be empty")
            raise_problems("CallConfig", [(("workflow_id",), error, self.workflow_id)])
        return self

    def written_variables(self) -> frozenset[str]:
        return frozenset({self.save_error_to or DEFAULT_ERROR_VARIABLE})

    def writes_any_variable(self) -> bool:
        return True  # the child's vars are merged back into the parent's


NODE = NodeType(
    name="call",
    config=CallConfig,
    display_name="Call Workflow",
    stepable_type="FlowCallStep",
    waits=True,  # the parent waits for the child execution
    icon="subflow",
    key_fields=("workflow_name",),
)
