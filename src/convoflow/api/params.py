"""Query parameter types shared by the list routes.

`Timestamp` is every date filter: an ISO-8601 date-time, read as UTC when it has no
offset, and refused (422 naming the parameter) when its UTC instant falls outside years
1..9999: `0001-01-01T00:00:00+14:00` is a valid date-time whose UTC time is year 0,
which neither Python nor the databases can hold. Cursors carry the same check
(api/pagination.py uses `storable_utc`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

OUT_OF_RANGE = (
    "expected a date-time between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z once "
    "converted to UTC"
)


def storable_utc(value: datetime) -> datetime:
    """`value` in UTC; ValueError(OUT_OF_RANGE) when UTC cannot hold it."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range: {OUT_OF_RANGE}") from None


_NUMBER = re.compile(r"^\s*[+-]?[0-9.]+([eE][+-]?[0-9]+)?\s*$")


def iso_only(value: Any) -> Any:
    """Pydantic would read a number as a Unix time; the API documents ISO 8601 only."""
    if isinstance(value, str) and _NUMBER.match(value):
        raise ValueError(
            f"expected an ISO-8601 date-time (e.g. 2025-01-31T12:00:00Z); got {value!r}"
        )
    return value


# The published schema says what the validators accept: an ISO date-time, and (JSON
# Schema cannot compare instants) not on the first or last day the range can hold.
Timestamp = Annotated[
    datetime,
    BeforeValidator(iso_only),
    AfterValidator(storable_utc),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "pattern": "^(?!0001-01-01|9999-12-31)"}
    ),
]
