"""A lost database: PostgreSQL restarting, crashed, shutting down or out of reach.

Such errors surface in many shapes: a refused or reset socket (`OSError`, raised raw by
asyncpg's connect), asyncpg's own errors (`CannotConnectNowError` while the server starts
or stops, `AdminShutdownError` when a session is terminated, `ConnectionDoesNotExistError`
or `InterfaceError` on a connection that died), each sometimes wrapped by SQLAlchemy.
`store.db` turns all of them into one `DatabaseUnavailable`, which the group committer
retries on a fresh connection, the worker loops wait out with backoff, and the API answers
with a 503 — never a 500, and never a 200 for something that did not commit.

SQLAlchemy notices by itself only connections asyncpg already marked closed; a session
terminated mid-statement can reach it before asyncpg has seen the socket close, and such a
connection would go back to the pool broken ("another operation is in progress").
`install` makes SQLAlchemy treat every error below as a disconnect, so the connection is
dropped and the rest of the pool (opened before the restart) is recycled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

# Class 08: connection exceptions. 57P01-57P05: admin/crash shutdown, cannot connect now,
# database dropped, idle session timeout. (57014, a cancelled query, is not one of them.)
_LOST_SQLSTATES = ("57P01", "57P02", "57P03", "57P04", "57P05")
_LOST_MESSAGES = ("connection is closed", "connection was closed", "another operation")


class DatabaseUnavailable(Exception):
    """The database could not be reached, or dropped the connection. The transaction did
    not commit — unless the connection dropped during COMMIT itself, when it is unknown;
    everything retried after this error is safe to run again."""


def _chain(exc: BaseException) -> list[BaseException]:
    """The error, what it wraps (`orig`) and what caused it, a few levels deep."""
    found: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(found) < 12:
        item = todo.pop()
        if item is None or any(item is seen for seen in found):
            continue
        found.append(item)
        todo += [getattr(item, "orig", None), item.__cause__, item.__context__]
    return found


def _sqlstate(exc: BaseException) -> str:
    return str(getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None) or "")


def connection_lost(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseUnavailable):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    for item in _chain(exc):
        if isinstance(item, OSError):  # refused, reset, unreachable, timed out
            return True
        state = _sqlstate(item)
        if state.startswith("08") or state in _LOST_SQLSTATES:
            return True
        module = type(item).__module__
        if module.startswith("asyncpg") and any(m in str(item) for m in _LOST_MESSAGES):
            return True
    return False


def install(sync_engine: sa.Engine) -> None:
    """Count every lost-database error as a disconnect (see the module's docstring)."""

    @event.listens_for(sync_engine, "handle_error")
    def _on_error(context: Any) -> None:
        if not context.is_disconnect and connection_lost(context.original_exception):
            context.is_disconnect = True


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Raise `DatabaseUnavailable` for a lost database, anything else unchanged."""
    try:
        yield
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        if connection_lost(exc):
            raise DatabaseUnavailable(f"the database is unavailable: {_reason(exc)}") from exc
        raise


def _reason(exc: BaseException) -> str:
    # The innermost error says it best ("the database system is shutting down"); never
    # the SQL or its parameters, which SQLAlchemy's own message carries.
    inner = exc
    for _ in range(12):
        nested = getattr(inner, "orig", None) or inner.__cause__
        if nested is None:
            break
        inner = nested
    text = str(inner).strip()
    return (text.splitlines()[0] if text else type(inner).__name__)[:200]
