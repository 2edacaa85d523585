"""Rules expressions: semantics, errors that never raise, and the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convoflow.graph.expressions import (
    MAX_EXPRESSION_LENGTH,
    _evaluator,
    check_expression,
    evaluate_condition,
    referenced_vars,
)

SCOPE: dict[str, Any] = {
    "vars": {
        "age": 27,
        "name": "Ana",
        "tags": ["vip", "new"],
        "user": {"city": "Lima"},
        "answer": " YES ",
    },
    "system": {"trigger_type": "inbound_message", "last_resume": {"reason": "timeout"}},
    "context": {"channel": "whatsapp"},
    "metadata": {},
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("vars.age >= 18", True),
        ('vars["age"] < 18', False),
        ("vars.user.city == 'Lima'", True),
        ("vars['user']['city'] == 'Lima'", True),
        ("vars.missing is None", True),
        ("vars.missing.deeper is None", True),
        ("vars.missing == null", True),
        ("'vip' in vars.tags", True),
        ("contains(vars.tags, 'old')", False),
        ("contains(vars.name, 'An')", True),
        ("lower(strip(vars.answer)) == 'yes'", True),
        ("vars.answer.strip().lower() in ('yes', 'si')", True),
        ("startswith(vars.name, 'A') and endswith(vars.name, 'a')", True),
        ("len(vars.tags) == 2 and len(vars.missing) == 0", True),
        ("int('42') + float('0.5') == 42.5", True),
        ("abs(-3) == 3 and min(1, 2) == 1 and max(vars.tags) == 'vip'", True),
        ("round(2.567, 2) == 2.57", True),
        ("system.last_resume.reason == 'timeout'", True),
        ("context.channel == 'whatsapp' if vars.age else false", True),
        ("vars.tags[0] == 'vip' and vars.tags[9] is None", True),
        ("vars.user == {'city': 'Lima'}", True),
        ("not vars.missing", True),
        ("2 ** 10 == 1024", True),
    ],
)
def test_evaluate(expr: str, expected: bool) -> None:
    assert check_expression(expr) is None
    assert evaluate_condition(expr, SCOPE) == (expected, None)


@pytest.mark.parametrize(
    "expr",
    ["vars.missing > 3", "int(vars.name) > 1", "vars.age + 'x'", "1 / 0", "9 ** 999999"],
)
def test_runtime_failures_are_false_with_a_message(expr: str) -> None:
    matched, error = evaluate_condition(expr, SCOPE)
    assert matched is False
    assert error


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("", "empty"),
        ("vars.age >", "syntax"),
        ("age >= 18", "unknown name 'age'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("x" * (MAX_EXPRESSION_LENGTH + 1), "at most 500"),
        ("[v for v in vars.tags]", "comprehension"),
        ("lambda: 1", "lambda"),
        ("f'{vars.name}'", "f-strings"),
        ("(y := 1)", "assignment"),
    ],
)
def test_check_expression_errors(expr: str, fragment: str) -> None:
    error = check_expression(expr)
    assert error is not None and fragment in error
    assert evaluate_condition(expr, SCOPE) == (False, error)


ESCAPES = [
    "vars.__class__",
    "vars.__class__.__mro__",
    "vars._data",
    "vars.user._data",
    "system.__dict__",
    "().__class__.__bases__[0].__subclasses__()",
    "''.__class__.__mro__[1].__subclasses__()",
    "lower.__globals__",
    "len.__self__",
    "str.__init__.__globals__['os']",
    "vars.name.format(vars)",
    "'{0.__class__}'.format(1)",
    "__import__('os').system('echo hi')",
    "eval('1')",
    "exec('x=1')",
    "getattr(vars, '__class__')",
    "type(vars)",
    "vars.tags.append(1)",
    "vars.tags.__len__()",
    "vars.age.__add__(1)",
    "vars.age.bit_length()",
    "[].__class__",
    "{}.keys()",
    "vars.name.replace('a', 'a' * 99999)",
    "vars.name.center(10**9)",
    "dict(a=1)",
    "list(vars.tags)",
    "[*vars.tags]",
    "{**vars.user}",
]


@pytest.mark.parametrize("expr", ESCAPES)
def test_sandbox_escapes_are_rejected(expr: str) -> None:
    assert check_expression(expr) is not None, expr
    matched, error = evaluate_condition(expr, SCOPE)
    assert matched is False and error


@pytest.mark.parametrize("expr", [e for e in ESCAPES if "lambda" not in e and "*" not in e])
def test_evaluator_rejects_escapes_even_without_the_static_check(expr: str) -> None:
    # Defence in depth: the runtime evaluator alone must refuse these too.
    with pytest.raises(Exception):  # noqa: B017 - any refusal is fine, success is not
        _evaluator(SCOPE).eval(expr)


def test_underscore_keys_are_unreachable_even_by_subscript() -> None:
    scope = {"vars": {"__class__": "data", "_secret": "x"}}
    assert evaluate_condition("vars['__class__'] == 'data'", scope) == (True, None)
    assert check_expression("vars._secret") is not None


def test_attribute_style_never_returns_dict_methods() -> None:
    assert evaluate_condition("vars.user.keys is None", SCOPE) == (True, None)
    assert evaluate_condition("vars.items is None", SCOPE) == (True, None)


def test_scope_is_not_mutated() -> None:
    scope: dict[str, Any] = {"vars": {"tags": ["a"]}}
    evaluate_condition("vars.tags == ['a'] and vars.tags[0] == 'a'", scope)
    assert scope == {"vars": {"tags": ["a"]}}


def test_missing_namespaces_are_empty() -> None:
    assert evaluate_condition("vars.x is None and metadata.y is None", {}) == (True, None)


def test_non_string_expression() -> None:
    assert check_expression(5) is not None  # type: ignore[arg-type]
    assert evaluate_condition(None, SCOPE)[0] is False  # type: ignore[arg-type]


def test_referenced_vars() -> None:
    assert referenced_vars("vars.age > 1 and vars['name'] == system.x and len(vars.age)") == [
        "vars.age",
        "vars.name",
    ]
    assert referenced_vars("vars.age >") == []


@given(st.text(max_size=200))
def test_never_raises_on_arbitrary_text(expr: str) -> None:
    matched, error = evaluate_condition(expr, SCOPE)
    assert isinstance(matched, bool)
    assert error is None or isinstance(error, str)
    check_expression(expr)


identifiers = st.sampled_from(
    ["vars.age", "vars.name", "vars.tags", "vars.missing", "1", "'a'", "None"]
)
operators = st.sampled_from(["==", "!=", "<", ">=", "in", "and", "or", "+", "*"])


@given(st.lists(st.tuples(identifiers, operators), min_size=1, max_size=6), identifiers)
def test_random_well_formed_expressions_never_raise(
    parts: list[tuple[str, str]], last: str
) -> None:
    expr = " ".join(f"{left} {op}" for left, op in parts) + f" {last}"
    matched, error = evaluate_condition(expr, SCOPE)
    assert isinstance(matched, bool)
    assert error is None or isinstance(error, str)
