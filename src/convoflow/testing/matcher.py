"""Expectations against what happened, and the readable diff when they do not hold.

Every check returns None when it holds, else the lines to show: what was expected, what
happened, and for text a line diff."""

from __future__ import annotations

import difflib
import json
from typing import Any

from convoflow.testing.driver import Snapshot
from convoflow.testing.model import BotExpectation

_MISSING = object()


def message_text(message: dict[str, Any]) -> str:
    """The text a person reads: a text message's text, an interactive's header and body."""
    if message.get("type") == "text":
        return str(message.get("text") or "")
    interactive = message.get("interactive")
    if isinstance(interactive, dict):
        return str(interactive.get("body_text") or "")
    template = message.get("template")
    if isinstance(template, dict):
        return f"[template {template.get('name') or template.get('id')}]"
    return ""


def options(message: dict[str, Any] | None, kind: str) -> list[dict[str, Any]]:
    """The buttons (`kind="buttons"`) or list rows (`"list_rows"`) a bot message offers."""
    interactive = (message or {}).get("interactive")
    if not isinstance(interactive, dict):
        return []
    if kind == "buttons":
        return [b for b in interactive.get("buttons") or [] if isinstance(b, dict)]
    return [
        row
        for section in interactive.get("list_sections") or []
        for row in (section or {}).get("rows") or []
        if isinstance(row, dict)
    ]


def describe_message(message: dict[str, Any]) -> str:
    """One line: `text "..."` or `interactive "body" buttons [a, b]`."""
    kind = str(message.get("type"))
    line = f"{kind} {json.dumps(message_text(message), ensure_ascii=False)}"
    for name in ("buttons", "list_rows"):
        found = options(message, name)
        if found:
            titles = ", ".join(f"{o.get('title')} ({o.get('id')})" for o in found)
            line += f" {name} [{titles}]"
    return line


def _text_diff(expected: str, actual: str) -> list[str]:
    if "\n" not in expected and "\n" not in actual:
        return []
    diff = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), "expected", "actual", lineterm="", n=1
    )
    return ["  " + line for line in diff]


def _text_mismatch(expected: str, actual: str) -> list[str]:
    want = json.dumps(expected, ensure_ascii=False)
    got = json.dumps(actual, ensure_ascii=False)
    lines = [f"text: expected {want}", f"      got      {got}"]
    if "\n" in expected or "\n" in actual:
        return lines + _text_diff(expected, actual)
    # A caret under the first character that differs (both lines are JSON-quoted the
    # same way up to it).
    at = next(
        (i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
        min(len(want), len(got)),
    )
    lines.append(" " * (len("      got      ") + at) + "^")
    return lines


def _options_match(wanted: list[str], found: list[dict[str, Any]]) -> bool:
    if len(wanted) != len(found):
        return False
    return all(
        w in (str(o.get("id")), str(o.get("title"))) for w, o in zip(wanted, found, strict=True)
    )


def check_bot(
    expected: BotExpectation, message: dict[str, Any] | None, received: list[dict[str, Any]]
) -> list[str] | None:
    """`received`: every bot message of this turn, shown when none is left to match."""
    if message is None:
        shown = [f"    {describe_message(m)}" for m in received] or ["    (none)"]
        return [
            f"expected a bot message: {_describe_expectation(expected)}",
            "but the bot sent no more messages this turn; it sent:",
            *shown,
        ]
    problems: list[str] = []
    text = message_text(message)
    if expected.type is not None and message.get("type") != expected.type:
        problems.append(f"type: expected {expected.type}, got {message.get('type')}")
    if expected.text is not None and text != expected.text:
        problems.extend(_text_mismatch(expected.text, text))
    if expected.contains is not None and expected.contains not in text:
        problems.append(
            f"text: expected to contain {json.dumps(expected.contains, ensure_ascii=False)}, "
            f"got {json.dumps(text, ensure_ascii=False)}"
        )
    for name in ("buttons", "list_rows"):
        wanted: list[str] | None = getattr(expected, name)
        found = options(message, name)
        if wanted is not None and not _options_match(wanted, found):
            got = [f"{o.get('title')} ({o.get('id')})" for o in found]
            problems.append(f"{name}: expected {wanted} (ids or titles), got {got or 'none'}")
    if not problems:
        return None
    if message.get("type") == "text":
        return problems
    return [*problems, f"the message was: {describe_message(message)}"]


def _describe_expectation(expected: BotExpectation) -> str:
    given = {k: v for k, v in expected.model_dump().items() if v is not None}
    return json.dumps(given, ensure_ascii=False)


def _lookup(variables: dict[str, Any], name: str) -> Any:
    """`name` or a dotted path (`order.total`) into nested objects."""
    if name in variables:
        return variables[name]
    current: Any = variables
    for part in name.split("."):
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _show(value: Any) -> str:
    return f"{json.dumps(value, ensure_ascii=False, default=str)} ({type(value).__name__})"


def check_vars(expected: dict[str, Any], snapshot: Snapshot) -> list[str] | None:
    problems = []
    for name, want in expected.items():
        got = _lookup(snapshot.variables, name)
        if got is _MISSING:
            problems.append(f"vars.{name}: expected {_show(want)}, but it is not set")
        elif got != want or (type(got) is not type(want) and not _both_numbers(got, want)):
            problems.append(f"vars.{name}: expected {_show(want)}")
            problems.append(f"{' ' * len(name)}       got      {_show(got)}")
    if not problems:
        return None
    names = ", ".join(sorted(snapshot.variables)) or "none"
    return [*problems, f"variables set: {names}"]


def _both_numbers(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    )


def check_status(expected: str, snapshot: Snapshot) -> list[str] | None:
    if snapshot.status == expected:
        return None
    lines = [f"status: expected {expected}, got {snapshot.status}"]
    if snapshot.error:
        lines.append(f"the execution failed: {snapshot.error}")
    return lines
