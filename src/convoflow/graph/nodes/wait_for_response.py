"""``wait_for_response``: park the execution until the user replies (or the timeout fires)."""

from __future__ import annotations

from pydantic import field_validator, model_validator

from convoflow.graph.nodes._base import NodeConfig, NodeType, problem, raise_problems

MIN_TIMEOUT_SECONDS = 10
MAX_TIMEOUT_SECONDS = 604_800  # 7 days, Kapso's documented ceiling
# Written by every wait (and by an inbound trigger), so reading them is always fine.
BUILTIN_VARIABLES = frozenset({"last_user_input", "last_user_message"})


class WaitForResponseConfig(NodeConfig):
    has_timeout: bool = False
    timeout_seconds: int | None = None
    save_response_to: str | None = None

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout_in_range(cls, value: int | None) -> int | None:
        if value is not None and not MIN_TIMEOUT_SECONDS <= value <= MAX_TIMEOUT_SECONDS:
            raise problem(
                "invalid_timeout",
                "is {value}; must be between {low} and {high} seconds",
                value=value,
                low=MIN_TIMEOUT_SECONDS,
                high=MAX_TIMEOUT_SECONDS,
            )
        return value

    @model_validator(mode="after")
    def _timeout_when_enabled(self) -> WaitForResponseConfig:
        if self.has_timeout and self.timeout_seconds is None:
            error = problem("invalid_timeout", "is not set but has_timeout is true")
            raise_problems("WaitForResponseConfig", [(("timeout_seconds",), error, None)])
        return self

    def written_variables(self) -> frozenset[str]:
        if self.save_response_to:
            return BUILTIN_VARIABLES | {self.save_response_to.split(".")[0]}
        return BUILTIN_VARIABLES


NODE = NodeType(
    name="wait_for_response",
    config=WaitForResponseConfig,
    display_name="Wait for response",
    stepable_type="FlowWaitStep",
    waits=True,
    icon="hourglass",
    key_fields=("timeout_seconds", "save_response_to"),
)
