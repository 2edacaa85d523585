"""`GET /healthz`: the process is up and its database answers."""

from __future__ import annotations

from fastapi import Response

from convoflow.api.auth import EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.openapi import error_responses, success
from convoflow.api.response_models import Health
from convoflow.api.responses import ok

router = api_router(tags=["Health"])


@router.get(
    "/healthz",
    summary="Liveness and database check",
    responses={**success(Health), **error_responses(503)},
)
async def healthz(engine: EngineDep) -> Response:
    try:
        await engine.db.ping()
    except Exception as exc:  # any database failure means "not healthy", never a 500
        return ok({"status": "unavailable", "error": f"database: {exc}"}, status_code=503)
    return ok({"status": "ok", "database": engine.db.backend.name})
