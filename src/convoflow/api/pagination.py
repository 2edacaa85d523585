"""Cursor pagination (DECISIONS.md): an opaque Base64 of
`{"values": [created_at, id], "columns": ["created_at", "id"]}`, newest first.
`paging.cursors.before/after` mark the page's ends; `next`/`previous` are the cursors to
send as `after`/`before` for the neighbouring pages, null at the ends."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from convoflow.api.errors import ApiError
from convoflow.api.params import storable_utc
from convoflow.clock import utc_iso
from convoflow.services.executions.reads import PageRequest
from convoflow.store.listing import KeysetPage, Position

COLUMNS = ["created_at", "id"]
MAX_CURSOR_LENGTH = 1000


def encode_cursor(created_at: datetime, row_id: str) -> str:
    payload = {"values": [utc_iso(created_at), row_id], "columns": COLUMNS}
    # URL-safe alphabet: the cursor goes into query strings unescaped by many clients.
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _bad(name: str, why: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid cursor in '{name}': {why}; send a value from paging.cursors, paging.next "
        "or paging.previous unchanged",
    )


def decode_cursor(value: str, name: str) -> Position:
    if len(value) > MAX_CURSOR_LENGTH:
        raise _bad(name, "it is too long")
    # Accept both alphabets, and a '+' that a query string turned into a space.
    text = value.replace(" ", "+").replace("-", "+").replace("_", "/").strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad(name, "it is not Base64-encoded JSON") from None
    if not isinstance(payload, dict) or payload.get("columns") != COLUMNS:
        raise _bad(name, "it is not a created_at/id cursor")
    values = payload.get("values")
    if not (
        isinstance(values, list) and len(values) == 2 and all(isinstance(v, str) for v in values)
    ):
        raise _bad(name, "its values must be [created_at, id]")
    created_text, row_id = values
    try:
        created_at = datetime.fromisoformat(created_text)
    except ValueError:
        raise _bad(name, f"{created_text!r} is not an ISO-8601 timestamp") from None
    try:
        created_at = storable_utc(created_at)
    except ValueError as exc:
        # A well-formed cursor whose time the databases cannot hold: a value problem,
        # like the same date in a filter, so 422 as there.
        raise ApiError(
            422,
            f"Invalid cursor in '{name}': its created_at {exc}",
            details=[{"code": "value_error", "field": f"query.{name}", "message": str(exc)}],
        ) from None
    # Ids are printable ASCII (UUIDs): anything else, a lone surrogate that JSON's \ud800
    # escape carries among them, cannot even be sent to the database.
    if not row_id or len(row_id) > 64 or not (row_id.isascii() and row_id.isprintable()):
        raise _bad(name, "its id is not an id")
    return Position(created_at=created_at, id=row_id)


def page_request(limit: int, after: str | None, before: str | None) -> PageRequest:
    if after and before:
        raise ApiError(400, "Send either 'after' or 'before', not both")
    return PageRequest(
        limit=limit,
        after=decode_cursor(after, "after") if after else None,
        before=decode_cursor(before, "before") if before else None,
    )


def paging(page: KeysetPage) -> dict[str, Any]:
    if not page.rows:
        return {"cursors": {}, "next": None, "previous": None}
    first, last = page.rows[0], page.rows[-1]
    before = encode_cursor(first["created_at"], str(first["id"]))
    after = encode_cursor(last["created_at"], str(last["id"]))
    return {
        "cursors": {"before": before, "after": after},
        "next": after if page.more_after else None,
        "previous": before if page.more_before else None,
    }
