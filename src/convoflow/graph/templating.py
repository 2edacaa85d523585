"""Kapso-style templating: ``{{vars.x}}``, ``{{system.x}}``, bare ``{{x}}`` and ``${ENV:NAME}``.

Deterministic and code-free: a placeholder is a dotted path looked up in the execution
namespaces, nothing more. Secrets and variables are substituted in one left-to-right pass,
so text that came from a user (a variable value containing ``${ENV:API_KEY}``) is never
re-scanned and can never pull a secret into a message; that is the guarantee Kapso's
"secrets first" ordering exists for.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NAMESPACES = ("vars", "system", "context", "metadata")

_PATH = r"[^\W\d]\w*(?:\.\w+)*"
_TOKEN = re.compile(r"\$\{ENV:([A-Za-z_][A-Za-z0-9_]*)\}|\{\{\s*(" + _PATH + r")\s*\}\}")
_SINGLE_PLACEHOLDER = re.compile(r"\{\{\s*(" + _PATH + r")\s*\}\}")
_MISSING = object()


@dataclass
class RenderResult:
    """Rendered text plus every path (``vars.x``) or secret (``ENV:NAME``) that was missing."""

    text: str
    missing: list[str] = field(default_factory=list)


def normalize_path(path: str) -> str:
    """``name.x`` → ``vars.name.x``; paths that start with a namespace are unchanged."""
    head = path.split(".", 1)[0]
    return path if head in NAMESPACES else f"vars.{path}"


def _lookup(scope: Mapping[str, Any], path: str) -> Any:
    """The value at a normalised dotted path, or the ``_MISSING`` sentinel."""
    parts = path.split(".")
    current: Any = scope.get(parts[0], _MISSING)
    for part in parts[1:]:
        if isinstance(current, Mapping):
            current = current.get(part, _MISSING)
        elif isinstance(current, list | tuple) and part.isascii() and part.isdigit():
            index = int(part)
            current = current[index] if index < len(current) else _MISSING
        else:
            return _MISSING
        if current is _MISSING:
            return _MISSING
    return current


def resolve_path(scope: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) for a dotted path; bare names are looked up in ``vars``."""
    value = _lookup(scope, normalize_path(path))
    return (False, None) if value is _MISSING else (True, value)


def format_value(value: Any) -> str:
    """How a value appears inside text: JSON for objects, ``true``/``false``, no ``.0``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)


def _secret(name: str, secrets: Mapping[str, str], allow_process_env: bool) -> str | None:
    value = secrets.get(name)
    if value is None and allow_process_env:
        value = os.environ.get(name)
    return value


def render_template(
    template: str,
    scope: Mapping[str, Any],
    *,
    secrets: Mapping[str, str] | None = None,
    allow_process_env: bool = False,
) -> RenderResult:
    """Substitute every placeholder; a missing one renders as "" and is listed in ``missing``."""
    if "{{" not in template and "${" not in template:
        return RenderResult(template)
    known_secrets: Mapping[str, str] = secrets or {}
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        secret_name, path = match.group(1), match.group(2)
        if secret_name is not None:
            value = _secret(secret_name, known_secrets, allow_process_env)
            if value is None:
                _add_once(missing, f"ENV:{secret_name}")
                return ""
            return value
        normalized = normalize_path(path)
        found = _lookup(scope, normalized)
        if found is _MISSING:
            _add_once(missing, normalized)
            return ""
        return format_value(found)

    return RenderResult(_TOKEN.sub(substitute, template), missing)


def render_value(
    value: Any,
    scope: Mapping[str, Any],
    *,
    secrets: Mapping[str, str] | None = None,
    allow_process_env: bool = False,
) -> tuple[Any, list[str]]:
    """Render every string inside dicts/lists (keys untouched); returns (value, missing).

    A string that is exactly one ``{{path}}`` whose value is an object, list, number or
    boolean yields that raw value, so a JSON webhook body can carry structured data.
    """
    missing: list[str] = []
    rendered = _render_any(value, scope, secrets or {}, allow_process_env, missing)
    return rendered, missing


def _render_any(
    value: Any,
    scope: Mapping[str, Any],
    secrets: Mapping[str, str],
    allow_process_env: bool,
    missing: list[str],
) -> Any:
    if isinstance(value, str):
        single = _SINGLE_PLACEHOLDER.fullmatch(value)
        if single is not None:
            found = _lookup(scope, normalize_path(single.group(1)))
            if isinstance(found, Mapping | list | tuple | int | float):  # bool is an int
                return copy.deepcopy(found)
        result = render_template(value, scope, secrets=secrets, allow_process_env=allow_process_env)
        for item in result.missing:
            _add_once(missing, item)
        return result.text
    if isinstance(value, Mapping):
        return {
            key: _render_any(item, scope, secrets, allow_process_env, missing)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_render_any(item, scope, secrets, allow_process_env, missing) for item in value]
    return value


def referenced_paths(template: str) -> list[str]:
    """Normalised paths (``vars.x.y``) of the placeholders in ``template``, in order, unique."""
    found: list[str] = []
    if isinstance(template, str):
        for match in _TOKEN.finditer(template):
            if match.group(2) is not None:
                _add_once(found, normalize_path(match.group(2)))
    return found


def referenced_secrets(template: str) -> list[str]:
    """Names used as ``${ENV:NAME}`` in ``template``, in order, unique."""
    found: list[str] = []
    if isinstance(template, str):
        for match in _TOKEN.finditer(template):
            if match.group(1) is not None:
                _add_once(found, match.group(1))
    return found


def iter_strings(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string inside a JSON-like value with its field path (``headers.Authorization``)."""
    if isinstance(value, str):
        return [(path, value)]
    found: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            found.extend(iter_strings(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.extend(iter_strings(item, f"{path}[{index}]"))
    return found


def _add_once(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)
