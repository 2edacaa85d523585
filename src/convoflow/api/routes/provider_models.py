"""/platform/v1/provider_models: empty until convoflow runs AI nodes (a later issue)."""

from __future__ import annotations

from fastapi import Response

from convoflow.api.auth import CurrentActor
from convoflow.api.bodies import api_router
from convoflow.api.responses import data

router = api_router(tags=["Provider Models"])


@router.get("/provider_models", summary="List AI provider models (none yet)")
async def list_provider_models(actor: CurrentActor) -> Response:
    del actor  # authenticated like every route, but nothing is project-specific yet
    return data([])
