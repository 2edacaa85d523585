"""Decoding JSON that comes from outside (request bodies, Meta's webhooks).

One rule for every caller: at most `MAX_DEPTH` levels of nested arrays and objects.
Deeper input has no use in convoflow, and walking it costs recursion every later
consumer (validation, storage, templating) would pay again; 10,000 nested arrays used to
end in a RecursionError. The standard library's C decoder is used (not orjson) so that
what is accepted stays exactly what it was: big integers and lone surrogates reach the
request models, which refuse them with a 422 naming the field.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
TOO_DEEP = (
    f"JSON nested more than {MAX_DEPTH} levels deep is not accepted; expected at most "
    f"{MAX_DEPTH} levels of nested arrays and objects"
)


class JsonInputError(ValueError):
    """Not JSON, or nested too deeply (`too_deep`); the message says what was expected."""

    def __init__(self, message: str, *, too_deep: bool = False) -> None:
        super().__init__(message)
        self.too_deep = too_deep


def decode(raw: bytes | str) -> Any:
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JsonInputError(TOO_DEEP, too_deep=True) from None
    except ValueError as exc:  # JSONDecodeError, and bytes that are not UTF-8/16/32
        raise JsonInputError(str(exc)) from None
    # Fewer brackets than the limit cannot nest deeper than it: most bodies skip the walk.
    brackets = raw.count(b"[") + raw.count(b"{") if isinstance(raw, bytes) else MAX_DEPTH + 1
    if brackets > MAX_DEPTH and _too_deep(value):
        raise JsonInputError(TOO_DEEP, too_deep=True)
    return value


def _too_deep(value: Any) -> bool:
    """Iterative, so the check itself cannot overflow the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
