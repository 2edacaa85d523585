"""`GET /healthz`: the process is up and its database answered within the last moment
(the process's database probe, services/health/probe.py: a background ping every 0.5 s,
an inline one when the last failed or is over 1.5 s old)."""

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
    description="200 when the database answered a ping at most 1.5 s ago (a background "
    "ping runs every 0.5 s; a failed or older result is checked again inline); 503 when "
    "it failed or gave no answer within 5 s.",
    responses={**success(Health), **error_responses(503)},
)
async def healthz(engine: EngineDep) -> Response:
    health = await engine.health.check()
    checked = round(health.age_seconds, 3)
    if health.error is not None:
        return ok(
            {
                "status": "unavailable",
                "error": f"database: {health.error}",
                "checked_seconds_ago": checked,
            },
            status_code=503,
        )
    return ok({"status": "ok", "database": engine.db.backend.name, "checked_seconds_ago": checked})
