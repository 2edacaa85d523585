"""The suite file: YAML validated by pydantic models, with errors that name the file,
the case and the step (`convoflow test` exits 2 on them, before running anything)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
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


# Where in the YAML a problem is: keys and list indexes from the top (("cases", 0,
# "steps", 2) is the third step of the first case); () is the whole file.
YamlPath = tuple[str | int, ...]


class SuiteError(Exception):
    """A suite file that cannot run; `problems` are whole sentences naming where, and
    `lines` the line each is on (1-based; None when not known), for an editor."""

    def __init__(self, path: Path, problems: list[str], lines: list[int | None] | None = None):
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems
        self.lines = lines if lines is not None else [None] * len(problems)


Problems = list[tuple[str, YamlPath]]


def _pydantic_problems(where: str, exc: ValidationError, at: YamlPath = ()) -> Problems:
    out: Problems = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        out.append((f"{where}{' field ' + loc if loc else ''}: {message}", at + error["loc"]))
    return out


def parse_step(raw: Any) -> Step:
    """One step from its YAML mapping: exactly one known key decides its kind."""
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ValueError(
            "a step is a mapping with exactly one key, one of: " + ", ".join(STEP_KINDS)
        )
    (key,) = raw
    kind = STEP_KINDS.get(str(key))
    if kind is None:
        raise ValueError(f"unknown step {key!r}; expected one of: " + ", ".join(STEP_KINDS))
    step: Step = kind.model_validate(raw)  # type: ignore[assignment]
    return step


def _load_case(index: int, raw: Any, problems: Problems) -> LoadedCase | None:
    label, at = f"case {index + 1}", ("cases", index)
    try:
        case = Case.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(label, exc, at))
        return None
    label = f"case {index + 1} ({case.name!r})"
    steps: list[Step] = []
    for number, raw_step in enumerate(case.steps, start=1):
        where, step_at = f"{label} step {number}", (*at, "steps", number - 1)
        try:
            steps.append(parse_step(raw_step))
        except ValidationError as exc:
            problems.extend(_pydantic_problems(where, exc, step_at))
        except ValueError as exc:
            problems.append((f"{where}: {exc}", step_at))
    problems.extend((f"{label}: {p}", at) for p in _order_problems(steps))
    return LoadedCase(name=case.name, variables=dict(case.vars), steps=steps, skip=case.skip)


def _order_problems(steps: list[Step]) -> list[str]:
    """set_vars after the execution started is merged with the next user message (as the
    API's resume does), so one must follow."""
    started = False
    pending_at: int | None = None
    for number, step in enumerate(steps, start=1):
        if isinstance(step, SetVarsStep):
            if started and pending_at is None:
                pending_at = number
            continue
        started = True
        if isinstance(step, UserStep):
            pending_at = None
    if pending_at is not None:
        return [
            f"step {pending_at}: set_vars after the flow started takes effect with the next "
            "user message, and no user step follows it"
        ]
    return []


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. In YAML 1.1 (PyYAML's default) `yes`, `no`,
    `on` and `off` are booleans too, and they are common button ids."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_suite(path: Path) -> Suite:
    """Read and validate one suite file; raises SuiteError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(path, [f"cannot read it: {exc.strerror or exc}"]) from None
    return parse_suite(text, path)


def parse_suite(
    text: str,
    path: Path,
    *,
    stored: bool = False,
    definition: Any = None,
    name: str | None = None,
) -> Suite:
    """Validate a suite's YAML text. `path` names it (and `flow:` is relative to it).
    A `stored` suite is kept with its workflow, which is the flow it runs (`definition`,
    named `name` unless the YAML names it): it names no other (`flow`, `workflow_id` are
    refused). Raises SuiteError listing every problem with its line."""
    try:
        raw = yaml.load(text, Loader=_Yaml12Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        message = f"not valid YAML: {exc}".replace("\n", " ")
        raise SuiteError(path, [message], [line]) from None
    if not isinstance(raw, dict):
        raise SuiteError(path, ["a suite file is a mapping with `flow` and `cases`"], [1])
    problems: Problems = []
    if stored:
        problems.extend(
            (f"suite field {key}: a stored suite runs its own workflow; remove `{key}`", (key,))
            for key in ("flow", "workflow_id")
            if key in raw
        )
        if "flows" in raw:
            # The server has no files to read; the project's workflows are not in the
            # throwaway database either (docs/testing-flows.md).
            problems.append(
                ("suite field flows: a stored suite cannot load flow files; remove it", ("flows",))
            )
        dropped = ("flow", "workflow_id", "flows")
        raw = {**{k: v for k, v in raw.items() if k not in dropped}, "flow": "-"}
    try:
        document = SuiteFile.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_pydantic_problems("suite", exc))
        raise _suite_error(path, text, problems) from None
    cases = [_load_case(i, c, problems) for i, c in enumerate(document.cases)]
    names = [c.name for c in cases if c is not None]
    problems.extend(
        (f"case name {n!r} is used twice", ("cases",))
        for n in sorted(set(names))
        if names.count(n) > 1
    )
    flow_path = (path.parent / document.flow).resolve() if document.flow and not stored else None
    if flow_path is not None and not flow_path.is_file():
        problems.append(
            (
                f"suite field flow: {document.flow!r} does not exist (looked at {flow_path})",
                ("flow",),
            )
        )
    called = tuple((wid, (path.parent / file).resolve()) for wid, file in document.flows.items())
    problems.extend(
        (f"suite field flows.{wid}: {str(file)!r} does not exist", ("flows", wid))
        for wid, file in called
        if not file.is_file()
    )
    if problems:
        raise _suite_error(path, text, problems)
    return Suite(
        path=path,
        name=document.name or name or path.name,
        flow_path=flow_path,
        workflow_id=None if stored else document.workflow_id,
        cases=[
            replace(c, variables={**document.vars, **c.variables}) for c in cases if c is not None
        ],
        definition=definition,
        provider_models=tuple(document.provider_models),
        called_flows=called,
    )


def _suite_error(path: Path, text: str, problems: Problems) -> SuiteError:
    try:
        root = yaml.compose(text, Loader=_Yaml12Loader)
    except yaml.YAMLError:  # parsed once already; kept safe all the same
        root = None
    return SuiteError(path, [p for p, _ in problems], [_line_of(root, at) for _, at in problems])


def _line_of(node: yaml.Node | None, at: YamlPath) -> int | None:
    """The 1-based line of the deepest node of `at` that the YAML has (a missing key is
    reported on its parent mapping)."""
    if node is None:
        return None
    for part in at:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if 0 <= part < len(node.value) else None
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


def find_suites(paths: list[Path]) -> list[Path]:
    """Files as given; directories searched for *.test.yaml / *.test.yml."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted([*path.rglob("*.test.yaml"), *path.rglob("*.test.yml")]))
        else:
            found.append(path)
    return found
