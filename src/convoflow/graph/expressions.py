"""Safe boolean expressions for ``decide`` nodes with ``decision_type: "rules"``.

An expression such as ``vars.age >= 18 and lower(vars.country) == "ar"`` is checked
statically (``check_expression``: a whitelist of syntax, names and functions) and then
evaluated by simpleeval over read-only views of the execution namespaces. No dunder or
underscore attribute is reachable, there are no loops or comprehensions, and ``**`` is
capped, so evaluation is bounded and cannot touch Python internals.
"""

from __future__ import annotations

import ast
import json
import operator
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from simpleeval import DEFAULT_OPERATORS, EvalWithCompoundTypes

MAX_EXPRESSION_LENGTH = 500
NAMESPACES = ("vars", "system", "context", "metadata")
_CONSTANTS: dict[str, Any] = {
    "True": True,
    "False": False,
    "None": None,
    "true": True,
    "false": False,
    "null": None,
}
# String methods that are pure and cannot blow up memory (no replace/center/ljust/join).
SAFE_STR_METHODS = frozenset(
    {
        "lower",
        "upper",
        "strip",
        "lstrip",
        "rstrip",
        "startswith",
        "endswith",
        "isdigit",
        "isnumeric",
        "isalpha",
        "isalnum",
        "title",
        "casefold",
        "split",
        "count",
        "find",
    }
)


class _Namespace:
    """Read-only view of a dict: ``ns.key`` and ``ns["key"]``; a missing key is None."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _wrap(self._data.get(name))

    def __getitem__(self, key: Any) -> Any:
        return _wrap(self._data.get(key)) if isinstance(key, str) else None

    def __contains__(self, key: Any) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __eq__(self, other: object) -> bool:
        return bool(dict(self._data) == _unwrap(other))

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return json.dumps(self._data, separators=(",", ":"), ensure_ascii=False, default=str)

    __repr__ = __str__


class _ListView:
    """Read-only view of a list; an index out of range is None instead of an error."""

    __slots__ = ("_items",)

    def __init__(self, items: list[Any] | tuple[Any, ...]) -> None:
        self._items = items

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return _ListView(self._items[key])
        if isinstance(key, int) and not isinstance(key, bool) and -len(self._items) <= key:
            return _wrap(self._items[key]) if key < len(self._items) else None
        return None

    def __contains__(self, item: Any) -> bool:
        return _unwrap(item) in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return (_wrap(item) for item in list(self._items))

    def __eq__(self, other: object) -> bool:
        return bool(list(self._items) == _unwrap(other))

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return json.dumps(self._items, separators=(",", ":"), ensure_ascii=False, default=str)

    __repr__ = __str__


def _wrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _Namespace(value)
    if isinstance(value, list | tuple):
        return _ListView(value)
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, _Namespace):
        return dict(value._data)
    if isinstance(value, _ListView):
        return list(value._items)
    if isinstance(value, list | tuple):
        return [_unwrap(item) for item in value]
    if isinstance(value, dict):
        return {key: _unwrap(item) for key, item in value.items()}
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _contains(haystack: Any, needle: Any) -> bool:
    if haystack is None:
        return False
    if isinstance(haystack, str):
        return _text(needle) in haystack
    try:
        return bool(_unwrap(needle) in haystack)
    except TypeError:
        return False


def _safe_power(base: Any, exponent: Any) -> Any:
    # simpleeval allows exponents up to 4e6, which takes seconds; conditions never need that.
    if abs(exponent) > 100 or abs(base) > 1_000_000:
        raise ValueError("power too large")
    return operator.pow(base, exponent)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": lambda value: len(value) if value is not None else 0,
    "lower": lambda value: _text(value).lower(),
    "upper": lambda value: _text(value).upper(),
    "strip": lambda value: _text(value).strip(),
    "contains": _contains,
    "startswith": lambda value, prefix: _text(value).startswith(_text(prefix)),
    "endswith": lambda value, suffix: _text(value).endswith(_text(suffix)),
    "int": int,
    "float": float,
    "str": _text,
    "bool": bool,
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
}

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.BinOp,
    ast.UnaryOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.keyword,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Name,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.Load,
    ast.boolop,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
)


_FRIENDLY_NAMES = {
    "ListComp": "list comprehensions",
    "SetComp": "set comprehensions",
    "DictComp": "dict comprehensions",
    "GeneratorExp": "generator expressions",
    "Lambda": "lambda",
    "JoinedStr": "f-strings",
    "NamedExpr": "assignment (:=)",
    "Starred": "unpacking (*)",
}


def _check_node(node: ast.AST) -> str | None:
    if not isinstance(node, _ALLOWED_NODES):
        kind = type(node).__name__
        return f"{_FRIENDLY_NAMES.get(kind, kind)} not allowed in a condition"
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        return f"access to '{node.attr}' is not allowed"
    if isinstance(node, ast.Name) and node.id not in _KNOWN_NAMES:
        known = ", ".join(NAMESPACES)
        return f"unknown name '{node.id}'; use one of {known} (e.g. vars.{node.id})"
    if isinstance(node, ast.Call):
        return _check_call(node)
    if isinstance(node, ast.Dict) and any(key is None for key in node.keys):
        return "dict unpacking is not allowed"
    return None


def _check_call(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        if func.id not in FUNCTIONS:
            return f"unknown function '{func.id}'; allowed: {', '.join(sorted(FUNCTIONS))}"
        return None
    if isinstance(func, ast.Attribute):
        if func.attr not in SAFE_STR_METHODS:
            return f"method '.{func.attr}()' is not allowed"
        return None
    return "only named functions can be called"


_KNOWN_NAMES = frozenset(NAMESPACES) | frozenset(_CONSTANTS) | frozenset(FUNCTIONS)


@lru_cache(maxsize=4096)
def _parse(expr: str) -> ast.Expression | str:
    """The parsed tree, or an error message. Cached: the same rules run on every step."""
    if not expr.strip():
        return "expression is empty"
    if len(expr) > MAX_EXPRESSION_LENGTH:
        return f"expression is {len(expr)} characters; at most {MAX_EXPRESSION_LENGTH} allowed"
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        return f"invalid syntax: {exc.msg}"
    except ValueError as exc:  # e.g. null bytes in the source
        return f"invalid expression: {exc}"
    for node in ast.walk(tree):
        error = _check_node(node)
        if error is not None:
            return error
    return tree


def check_expression(expr: str) -> str | None:
    """None if ``expr`` is an allowed condition, else a message saying what is wrong."""
    candidate: object = expr  # callers pass raw JSON values; stay total
    if not isinstance(candidate, str):
        return "expression must be a string"
    parsed = _parse(candidate)
    return parsed if isinstance(parsed, str) else None


class _Evaluator(EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval with attribute access limited to namespaces and a few str methods.

    A missing value propagates as None through ``.x`` and ``[k]`` so that
    ``vars.order.status`` is simply None when ``vars.order`` is not set.
    """

    def __init__(self, names: dict[str, Any]) -> None:
        operators = dict(DEFAULT_OPERATORS)
        operators[ast.Pow] = _safe_power
        super().__init__(operators=operators, functions=dict(FUNCTIONS), names=names)
        # EvalWithCompoundTypes registers list/dict/set/tuple and comprehensions; the static
        # check already forbids comprehensions, this keeps them out even if it regressed.
        self.functions = dict(FUNCTIONS)
        for kind in (ast.ListComp, ast.GeneratorExp, ast.DictComp):
            self.nodes.pop(kind, None)

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        if node.attr.startswith("_"):
            raise ValueError(f"access to '{node.attr}' is not allowed")
        base = self._eval(node.value)
        if base is None:
            return None
        if isinstance(base, _Namespace):
            return getattr(base, node.attr)
        if isinstance(base, str) and node.attr in SAFE_STR_METHODS:
            return getattr(base, node.attr)
        raise ValueError(f"'.{node.attr}' is not available on {type(base).__name__}")

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        container = self._eval(node.value)
        if container is None:
            return None
        return container[self._eval(node.slice)]


def _evaluator(scope: Mapping[str, Any]) -> _Evaluator:
    names: dict[str, Any] = dict(_CONSTANTS)
    for namespace in NAMESPACES:
        value = scope.get(namespace)
        names[namespace] = _Namespace(value if isinstance(value, Mapping) else {})
    return _Evaluator(names)


def evaluate_condition(expr: str, scope: Mapping[str, Any]) -> tuple[bool, str | None]:
    """Truthiness of ``expr`` over ``scope`` ({"vars", "system", "context", "metadata"}).

    Never raises: an invalid expression or a failing evaluation (``None > 3``,
    ``int("abc")``) gives ``(False, message)``.
    """
    candidate: object = expr
    if not isinstance(candidate, str):
        return False, "expression must be a string"
    parsed = _parse(candidate)
    if isinstance(parsed, str):
        return False, parsed
    try:
        result = _evaluator(scope).eval(expr.strip(), previously_parsed=parsed.body)
        return bool(result), None
    except Exception as exc:  # any failure of user-supplied logic is a non-match
        return False, f"{type(exc).__name__}: {exc}"


def referenced_vars(expr: str) -> list[str]:
    """``vars.<name>`` paths read by ``expr`` (first segment only), for lints."""
    parsed = _parse(expr) if isinstance(expr, str) else "not a string"
    if isinstance(parsed, str):
        return []
    found: list[str] = []
    for node in ast.walk(parsed):
        name: str | None = None
        if isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.value, ast.Name):
            if node.value.id != "vars":
                continue
            if isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                name = node.slice.value
        if name is not None and f"vars.{name}" not in found:
            found.append(f"vars.{name}")
    return found
