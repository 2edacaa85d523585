"""`Idempotency-Key` for POSTs that start or resume executions (our extension to Kapso).

The first successful result for (project, key, route) is stored in the same transaction
as the effect, and a repeat within 24 hours gets it back without running anything. What
is stored is the use-case's domain result (for executions: the execution, its workflow
and the version it runs), not an HTTP response: the API renders a replay exactly as it
rendered the first answer, status code included. Two concurrent first requests: on
SQLite the writes are serialised, so the second sees the first; on PostgreSQL the unique
constraint rejects the second's transaction (its effect rolls back with it) and it
answers with the stored result. Errors are not stored: a failed request changed nothing,
so repeating it is safe.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
from sqlalchemy.exc import IntegrityError

from convoflow.engine.advance import Advance
from convoflow.ids import new_id
from convoflow.services.common import Actor, Conflict
from convoflow.store import idempotency as store

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from convoflow.engine.ports import RuntimeView
    from convoflow.services.process import Process

TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255

Result = TypeVar("Result")


@dataclass(frozen=True)
class Kept(Generic[Result]):
    """How a use-case's result is kept: `dump` makes JSON-able data of it inside the
    effect's transaction; `load` makes the same result again (reading what it needs,
    such as a compiled graph, on `conn`)."""

    dump: Callable[[Result], dict[str, Any]]
    load: Callable[[AsyncConnection, RuntimeView, dict[str, Any]], Awaitable[Result]]


def row_data(row: Mapping[Any, Any] | None) -> dict[str, Any] | None:
    """A database row as JSON-able data; `row_from` gives back equal values (timestamps
    included: JSON has no datetime, so their columns are named)."""
    if row is None:
        return None
    values = {str(key): value for key, value in row.items()}
    stamps = [key for key, value in values.items() if isinstance(value, datetime)]
    return {"values": values, "datetimes": stamps}


def row_from(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    values: dict[str, Any] = dict(data["values"])
    for key in data["datetimes"]:
        values[key] = datetime.fromisoformat(values[key])
    return values


async def run_once(
    engine: Process,
    actor: Actor,
    key: str | None,
    route: str,
    effect: Callable[[Advance], Awaitable[Result]],
    kept: Kept[Result],
) -> Result:
    """Run `effect` in one write operation, or give back the result stored for `key`."""
    if key is None:
        return await engine.runtime.op(effect)

    async def run(adv: Advance) -> Result:
        stored = await store.find(adv.conn, actor.project_id, key, route)
        if stored is not None:
            if stored["created_at"] > adv.now - TTL:
                return await kept.load(adv.conn, adv.runtime, orjson.loads(stored["result"]))
            await store.delete(adv.conn, stored["id"])
        result = await effect(adv)
        row = {
            "id": new_id(),
            "project_id": actor.project_id,
            "key": key,
            "route": route,
            # Text, not JSON: PostgreSQL's JSONB would reorder keys, and a replay must
            # read back what the first answer showed, in its order.
            "result": orjson.dumps(kept.dump(result)).decode(),
            "created_at": adv.now,
        }
        await store.insert(adv.conn, row)
        return result

    try:
        return await engine.runtime.op(run)
    except IntegrityError:
        async with engine.db.read() as conn:
            stored = await store.find(conn, actor.project_id, key, route)
            if stored is None:  # another constraint failed; nothing was stored or done
                raise Conflict(
                    f"a request with Idempotency-Key {key!r} is being processed; retry shortly"
                ) from None
            return await kept.load(conn, engine.runtime, orjson.loads(stored["result"]))
