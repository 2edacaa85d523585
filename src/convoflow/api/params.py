"""Query parameter types shared by the list routes.

`Timestamp` is every date filter: an ISO-8601 date-time, read as UTC when it has no
offset, and refused (422 naming the parameter) when its UTC instant falls outside years
1..9999: `0001-01-01T00:00:00+14:00` is a valid date-time whose UTC time is year 0,
which neither Python nor the databases can hold. Cursors carry the same check
(api/pagination.py uses `storable_utc`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

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


Timestamp = Annotated[datetime, AfterValidator(storable_utc)]
