"""Defensive readers for untrusted JSON: each returns a value of the asked type or a
neutral default, so parsers built on them cannot raise on an odd shape."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def objs(value: Any) -> list[dict[str, Any]]:
    """The dict items of a list (anything else is dropped)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def text(value: Any) -> str | None:
    """A string, or a number rendered as one (Meta sends ids and timestamps as strings,
    but a hand-written payload may not)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def unix_time(value: Any) -> datetime | None:
    """Meta's `timestamp` (Unix seconds as a string) as an aware UTC datetime."""
    seconds = number(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def meta_errors(value: Any) -> list[dict[str, Any]]:
    """Meta's error objects (`{code, title, message, error_data: {details}, href}`) in one
    flat shape: `{code, title, message, details, href}` with absent keys dropped."""
    found: list[dict[str, Any]] = []
    for item in objs(value):
        error: dict[str, Any] = {
            "code": integer(item.get("code")),
            "title": text(item.get("title")),
            "message": text(item.get("message")),
            "details": text(obj(item.get("error_data")).get("details")),
            "href": text(item.get("href")),
        }
        found.append({key: val for key, val in error.items() if val is not None})
    return found
