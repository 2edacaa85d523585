"""``decide``: branch on one of the node's conditions; each condition label is an edge label.

``ai`` and ``function`` are Kapso's decision types. ``rules`` is ours: each condition has a
safe ``expression`` (see ``graph.expressions``), the first true one wins, and a condition
without an expression is the default ("otherwise") branch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from convoflow.graph.expressions import check_expression
from convoflow.graph.nodes._base import (
    Loc,
    NodeConfig,
    NodeType,
    choice,
    problem,
    raise_problems,
    validate_with_extra,
)

DECISION_TYPES = ("ai", "function", "rules")


class DecideCondition(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None  # server-generated in Kapso; kept when round-tripping
    label: str
    description: str | None = None
    expression: str | None = None

    @field_validator("label")
    @classmethod
    def _label_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise problem("empty_decision_condition_label", "must not be empty")
        return value

    @field_validator("expression")
    @classmethod
    def _expression_parses(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # a blank expression in the editor means "otherwise"
        error = check_expression(value)
        if error is not None:
            raise problem("invalid_expression", "{error}", error=error)
        return value

    @property
    def is_default(self) -> bool:
        return self.expression is None


def _condition_list_problems(value: list[Any], rules: bool) -> list[tuple[Loc, Any]]:
    found: list[tuple[Loc, PydanticCustomError]] = []
    if not value:
        found.append(((), problem("missing_decision_conditions", "needs at least one condition")))
    seen: set[str] = set()
    defaults = 0
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            continue
        label = item.get("label")
        if isinstance(label, str) and label.strip():
            if label in seen:
                error = problem(
                    "duplicate_decision_condition", "'{label}' is used twice", label=label
                )
                found.append(((index, "label"), error))
            seen.add(label)
        expression = item.get("expression")
        if rules and not (isinstance(expression, str) and expression.strip()):
            defaults += 1
            if defaults > 1:
                error = problem(
                    "multiple_default_conditions",
                    "is a second condition without an expression; only one default is allowed",
                )
                found.append(((index, "expression"), error))
    return found


class DecideConfig(NodeConfig):
    decision_type: Annotated[
        Literal["ai", "function", "rules"], choice("invalid_decision_type", DECISION_TYPES)
    ] = "ai"
    conditions: list[DecideCondition] = Field(default=[], validate_default=True)
    llm_configuration: dict[str, Any] = {}
    function_id: str | None = None
    function_name: str | None = None
    provider_model_id: str | None = None
    provider_model_name: str | None = None
    llm_temperature: float = 0.0
    llm_max_tokens: int = 10_000
    # Ours: how many of the conversation's latest messages the model reads (ai).
    llm_history_messages: int = Field(default=10, ge=0, le=100)

    @field_validator("conditions", mode="wrap")
    @classmethod
    def _conditions_consistent(
        cls, value: Any, handler: Callable[[Any], Any], info: ValidationInfo
    ) -> Any:
        rules = info.data.get("decision_type") == "rules"
        extra = _condition_list_problems(value, rules) if isinstance(value, list) else []
        return validate_with_extra("conditions", value, handler, extra)

    @model_validator(mode="after")
    def _function_given(self) -> DecideConfig:
        if self.decision_type == "function" and not (self.function_id or "").strip():
            error = problem("empty_required_field", "is required when decision_type is function")
            raise_problems("DecideConfig", [(("function_id",), error, self.function_id)])
        return self

    @property
    def labels(self) -> list[str]:
        return [condition.label for condition in self.conditions]

    def writes_any_variable(self) -> bool:
        return self.decision_type == "function"  # the function may return ``vars``


NODE = NodeType(
    name="decide",
    config=DecideConfig,
    display_name="Decide",
    stepable_type="FlowDecideStep",
    icon="branch",
    key_fields=("decision_type", "conditions"),
)
