"""Reading a suite file: its YAML (1.2 booleans) checked against the models in
testing/model.py, every problem named with its case, step and line (`convoflow test`
exits 2 on them, before running anything; the console shows them by line)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from convoflow.testing.model import (
    STEP_KINDS,
    Case,
    LoadedCase,
    SetVarsStep,
    Step,
    Suite,
    SuiteFile,
    UserStep,
)

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


class _AliasRefused(yaml.composer.ComposerError):
    """An anchor or alias in a suite (its message needs no YAML parser context)."""


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. In YAML 1.1 (PyYAML's default) `yes`, `no`,
    `on` and `off` are booleans too, and they are common button ids.

    Anchors and aliases (`&a`, `*a`) are refused: a stored suite is text from an API
    caller, and an alias can make a value that contains itself (`&a {x: *a}`, which no
    JSON can hold) or expand exponentially ("billion laughs"). Refused while composing,
    before anything is expanded, with the line of the first one."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _AliasRefused(
                None,
                None,
                "YAML anchors and aliases (&name, *name) are not allowed in a suite; "
                "write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


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
    raw = _read_mapping(text, path)
    problems: Problems = []
    if stored:
        raw = _as_stored(raw, problems)
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


def _read_mapping(text: str, path: Path) -> dict[str, Any]:
    try:
        raw = yaml.load(text, Loader=_Yaml12Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        message = (
            str(exc.problem)
            if isinstance(exc, _AliasRefused)
            else f"not valid YAML: {exc}".replace("\n", " ")
        )
        raise SuiteError(path, [message], [line]) from None
    if not isinstance(raw, dict):
        raise SuiteError(path, ["a suite file is a mapping with `flow` and `cases`"], [1])
    return raw


def _as_stored(raw: dict[str, Any], problems: Problems) -> dict[str, Any]:
    """A stored suite runs its own workflow: the keys naming another flow are refused."""
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
    return {**{k: v for k, v in raw.items() if k not in dropped}, "flow": "-"}


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
