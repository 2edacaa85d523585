"""`GET /healthz`: the process is up and its database answers."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import Response

from convoflow.api.auth import EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.openapi import error_responses
from convoflow.api.responses import ok

router = api_router(tags=["Health"])

_PING = sa.text("SELECT 1")


@router.get("/healthz", summary="Liveness and database check", responses=error_responses(503))
async def healthz(engine: EngineDep) -> Response:
    try:
        async with engine.db.read() as conn:
            await conn.execute(_PING)
    except Exception as exc:  # any database failure means "not healthy", never a 500
        return ok({"status": "unavailable", "error": f"database: {exc}"}, status_code=503)
    return ok({"status": "ok", "database": engine.db.dialect})
