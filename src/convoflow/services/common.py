"""What the API-facing services share: who is asking, and the errors they raise.

The errors carry no HTTP status; the API maps each kind to one (NotFound -> 404,
Invalid -> 422, Conflict -> 409, BadRequest -> 400, Unavailable -> 503). Every message
says what was expected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from convoflow.engine.advance import Advance
    from convoflow.engine.runtime import Runtime
    from convoflow.store.db import Database

T = TypeVar("T")


@dataclass(frozen=True)
class Actor:
    """The caller: an API key of a project (key_id None for the CLI)."""

    project_id: str
    key_id: str | None = None
    key_name: str | None = None

    def created_by(self) -> dict[str, Any]:
        return {"id": self.key_id, "name": self.key_name}


class ServiceError(Exception):
    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(ServiceError):
    pass


class Invalid(ServiceError):
    pass


class Conflict(ServiceError):
    pass


class BadRequest(ServiceError):
    pass


class Unavailable(ServiceError):
    """A service the request needs (the WhatsApp Graph API) could not be reached or
    failed on its side: nothing was changed, and the same request may succeed later."""


class TooMany(ServiceError):
    """The caller already holds as many of something as it may (open live streams):
    nothing was done; the same request succeeds once it gives one back, and
    `retry_after_seconds` is a reasonable wait before asking again."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class FieldProblem:
    """One problem with a request field, for `details`."""

    field: str
    message: str
    code: str = "invalid"
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "field": self.field, "message": self.message, **self.extra}


def invalid(problems: list[FieldProblem], summary: str | None = None) -> Invalid:
    """One Invalid listing every problem; the message names the first ones."""
    if summary is None:
        shown = "; ".join(f"{p.field}: {p.message}" for p in problems[:3])
        more = len(problems) - 3
        summary = shown + (f" (and {more} more)" if more > 0 else "")
    return Invalid(summary, [p.to_dict() for p in problems])


def not_found(kind: str, object_id: str) -> NotFound:
    return NotFound(f"{kind} {object_id} not found in this project")


def require(row: T | None, kind: str, object_id: str) -> T:
    """`row`, or NotFound when a read scoped to the caller's project found none (another
    project's object is "not found" too: its existence is not disclosed)."""
    if row is None:
        raise not_found(kind, object_id)
    return row


async def read_in_project(
    db: Database,
    lookup: Callable[[AsyncConnection, str, str], Awaitable[T | None]],
    kind: str,
    object_id: str,
    actor: Actor,
) -> T:
    """`lookup(conn, object_id, project_id)` on a read connection of its own, or NotFound."""
    async with db.read() as conn:
        return await in_project(conn, lookup, kind, object_id, actor)


async def in_project(
    conn: AsyncConnection,
    lookup: Callable[[AsyncConnection, str, str], Awaitable[T | None]],
    kind: str,
    object_id: str,
    actor: Actor,
) -> T:
    """`lookup(conn, object_id, project_id)` on the caller's connection, or NotFound."""
    return require(await lookup(conn, object_id, actor.project_id), kind, object_id)


async def delete_in_project(
    runtime: Runtime,
    lookup: Callable[[AsyncConnection, str, str], Awaitable[Any]],
    delete: Callable[[AsyncConnection, str], Awaitable[None]],
    kind: str,
    object_id: str,
    actor: Actor,
) -> None:
    """Delete `object_id` in one write operation if `lookup` finds it in the caller's
    project; NotFound otherwise."""

    async def run(adv: Advance) -> None:
        await in_project(adv.conn, lookup, kind, object_id, actor)
        await delete(adv.conn, object_id)

    await runtime.op(run)


class _Unset:
    """The value of a PATCH field the client did not send."""

    def __repr__(self) -> str:
        return "UNSET"


# Sentinel: "field not sent" (None is a value: a nullable field may be set to null).
UNSET: Any = _Unset()


@dataclass
class Patch:
    """The fields of a PATCH (subclasses add theirs, each defaulting to UNSET) and the
    optimistic lock the client holds (None: no check)."""

    lock_version: int | None = None

    def sent(self, *names: str) -> dict[str, Any]:
        """The named fields the client sent, by name."""
        return {name: getattr(self, name) for name in names if getattr(self, name) is not UNSET}

    def value_or(self, name: str, default: Any) -> Any:
        value = getattr(self, name)
        return default if value is UNSET else value
