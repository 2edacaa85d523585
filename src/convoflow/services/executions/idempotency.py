"""`Idempotency-Key` for POSTs that start or resume executions (our extension to Kapso).

The first successful response for (project, key, route) is stored in the same transaction
as the effect, and a repeat within 24 hours gets it back without running anything. Two
concurrent first requests: on SQLite the writes are serialised, so the second sees the
first; on PostgreSQL the unique constraint rejects the second's transaction (its effect
rolls back with it) and it answers with the stored response. Errors are not stored: a
failed request changed nothing, so repeating it is safe.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from convoflow.engine.advance import Advance
from convoflow.ids import new_id
from convoflow.services.common import Actor, Conflict
from convoflow.services.process import Process
from convoflow.store import idempotency as store

TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255

Response = tuple[int, Any]


async def run_once(
    engine: Process,
    actor: Actor,
    key: str | None,
    route: str,
    effect: Callable[[Advance], Awaitable[Response]],
) -> Response:
    """Run `effect` in one write operation, or replay the stored response for `key`."""
    if key is None:
        return await engine.runtime.op(effect)

    async def run(adv: Advance) -> Response:
        stored = await store.find(adv.conn, actor.project_id, key, route)
        if stored is not None:
            if stored["created_at"] > adv.now - TTL:
                return int(stored["status_code"]), stored["body"]
            await store.delete(adv.conn, stored["id"])
        status_code, body = await effect(adv)
        await store.insert(
            adv.conn,
            {
                "id": new_id(),
                "project_id": actor.project_id,
                "key": key,
                "route": route,
                "status_code": status_code,
                "body": body,
                "created_at": adv.now,
            },
        )
        return status_code, body

    try:
        return await engine.runtime.op(run)
    except IntegrityError:
        async with engine.db.read() as conn:
            stored = await store.find(conn, actor.project_id, key, route)
        if stored is None:  # another constraint failed; nothing was stored or done
            raise Conflict(
                f"a request with Idempotency-Key {key!r} is being processed; retry shortly"
            ) from None
        return int(stored["status_code"]), stored["body"]
