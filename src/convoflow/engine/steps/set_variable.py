"""`set_variable`: write `vars.<variable_name>`, rendered and coerced to `value_type`."""

from __future__ import annotations

import json
from typing import Any

from convoflow.engine.signals import Fail, Next, Outcome
from convoflow.engine.step import StepRun

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off", ""}


class CoercionError(ValueError):
    pass


def coerce(value: Any, value_type: str) -> Any:
    if value_type == "string":
        return value if isinstance(value, str) else json.dumps(value)
    if value_type == "number":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int | float):
            return value
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            raise CoercionError(f"{text!r} is not a number") from None
        return (
            int(number)
            if number.is_integer() and "." not in text and "e" not in text.lower()
            else number
        )
    if value_type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise CoercionError(f"{value!r} is not a boolean (expected true/false, yes/no, 1/0)")
    if value_type == "json":
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise CoercionError(f"value is not valid JSON: {exc.msg}") from None
    raise CoercionError(f"unknown value_type {value_type!r}")


async def enter(run: StepRun) -> Outcome:
    config = run.config
    name = config.variable_name
    raw = config.variable_value
    rendered = (
        await run.render(raw, "variable_value")
        if isinstance(raw, str)
        else await run.render_any(raw, "variable_value")
    )
    try:
        value = coerce(rendered, config.value_type)
    except CoercionError as exc:
        return Fail(
            f"set_variable {run.node.id!r}: cannot set {name!r} as {config.value_type}: {exc}",
            {"code": "coercion_failed", "field": "variable_value"},
        )
    run.set_vars({name: value}, source="set_variable")
    return Next()
