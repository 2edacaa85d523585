"""The suite file: YAML validated by pydantic models, with errors that name the file,
the case and the step (`convoflow test` exits 2 on them, before running anything)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
# A workflow id as the database stores it (store/schema.py: ID, 36 characters).
WorkflowId = Annotated[str, StringConstraints(min_length=1, max_length=36, strip_whitespace=True)]
Status = Literal["waiting", "ended", "handoff", "failed", "running"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> float:
    """`90` (seconds), `"90s"`, `"15m"`, `"2h"`, `"7d"`, `"1w"` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '2h'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(
                f"{value!r} is not a duration: write a number of seconds or a number with "
                "a unit ms, s, m, h, d or w (e.g. 90s, 2h, 7d)"
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ButtonReply(Strict):
    button: NonEmpty = Field(description="id (or title) of a button of the last bot message")


class ListReply(Strict):
    list_row: NonEmpty = Field(description="id (or title) of a row of the last bot message")


class BotExpectation(Strict):
    """What one bot message must be; every given field must hold."""

    text: str | None = None  # the whole text (a text message's text, else its body)
    contains: str | None = None
    type: NonEmpty | None = None  # text, interactive, template, ...
    buttons: list[NonEmpty] | None = None  # ids or titles, in order
    list_rows: list[NonEmpty] | None = None  # ids or titles, in order

    @model_validator(mode="after")
    def _something(self) -> BotExpectation:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("give at least one of text, contains, type, buttons, list_rows")
        return self


class UserStep(Strict):
    user: str | ButtonReply | ListReply

    @field_validator("user", mode="before")
    @classmethod
    def _reply(cls, value: Any) -> Any:
        # `user: 42` is what a person types: text. One clear message instead of one per
        # member of the union.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and len(value) == 1:
            (key,) = value
            option = value[key]
            if isinstance(option, int | float) and not isinstance(option, bool):
                option = str(option)
            if key == "button":
                return ButtonReply(button=option)
            if key == "list_row":
                return ListReply(list_row=option)
        raise ValueError('write `user: "text"`, `user: {button: ID}` or `user: {list_row: ID}`')


class ExpectBotStep(Strict):
    expect_bot: str | BotExpectation

    def expectation(self) -> BotExpectation:
        if isinstance(self.expect_bot, str):
            return BotExpectation(text=self.expect_bot)
        return self.expect_bot


class ExpectVarsStep(Strict):
    expect_vars: dict[str, Any] = Field(min_length=1)


class ExpectStatusStep(Strict):
    expect_status: Status


class AdvanceTimeStep(Strict):
    advance_time: float

    @field_validator("advance_time", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class SetVarsStep(Strict):
    set_vars: dict[str, Any] = Field(min_length=1)


Step = UserStep | ExpectBotStep | ExpectVarsStep | ExpectStatusStep | AdvanceTimeStep | SetVarsStep
STEP_KINDS: dict[str, type[Strict]] = {
    "user": UserStep,
    "expect_bot": ExpectBotStep,
    "expect_vars": ExpectVarsStep,
    "expect_status": ExpectStatusStep,
    "advance_time": AdvanceTimeStep,
    "set_vars": SetVarsStep,
}


class Case(Strict):
    name: NonEmpty
    vars: dict[str, Any] = {}  # start variables
    # Why the case is not run for now (the flow is being changed): reported as skipped.
    skip: NonEmpty | None = None
    steps: list[Any] = Field(min_length=1)  # validated one by one (errors name the step)


class ProviderModelSpec(Strict):
    """A provider model the flow's AI nodes name, made in the throwaway project of an
    in-process run (`provider_models:` in a suite, `--provider-model` on the command line):
    AI flows then run offline against `convoflow fake-llm` or any local server."""

    name: NonEmpty
    base_url: NonEmpty
    provider: Literal["openai", "anthropic"] = "openai"
    model: NonEmpty | None = None  # default: the name
    api_key: str | None = None


def parse_provider_model(text: str) -> ProviderModelSpec:
    """`name=fake,base_url=http://127.0.0.1:8099/v1[,model=m][,provider=p][,api_key=k]`;
    ValueError saying what is wrong."""
    pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"{text!r}: give key=value pairs separated by commas")
    try:
        return ProviderModelSpec.model_validate({k.strip(): v.strip() for k, v in pairs})
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{text!r}: {wrong}") from None


class SuiteFile(Strict):
    flow: NonEmpty | None = None  # a flow file, relative to the suite file
    workflow_id: NonEmpty | None = None  # an existing workflow (with --url)
    name: NonEmpty | None = None
    vars: dict[str, Any] = {}  # start variables of every case
    provider_models: list[ProviderModelSpec] = []  # made for an in-process run
    # The flows the suite's flow calls (`call` nodes), by the workflow id they name → a
    # flow file; loaded under those ids for an in-process run (a server has its own).
    flows: dict[WorkflowId, NonEmpty] = {}
    cases: list[Any] = Field(min_length=1)

    @model_validator(mode="after")
    def _flow_named(self) -> SuiteFile:
        if self.flow is None and self.workflow_id is None:
            raise ValueError("name the flow: `flow: FILE.json` or `workflow_id: ID` (with --url)")
        return self


@dataclass(frozen=True)
class LoadedCase:
    name: str
    variables: dict[str, Any]
    steps: list[Step]
    skip: str | None = None  # the reason, when the case is not to run


@dataclass(frozen=True)
class Suite:
    path: Path
    name: str
    flow_path: Path | None
    workflow_id: str | None
    cases: list[LoadedCase]
    # The flow itself, for a suite stored with its workflow on a server (no file to read).
    definition: Any = None
    provider_models: tuple[ProviderModelSpec, ...] = ()
    # (workflow id, flow file) of each flow the suite's flow calls (`flows:`).
    called_flows: tuple[tuple[str, Path], ...] = ()
