"""/platform/v1/api_keys: list and revoke the project's API keys (ours, not in Kapso's
API; keys are created with `convoflow api-keys create`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Response

from convoflow.api.auth import CurrentActor, EngineDep
from convoflow.api.openapi import success
from convoflow.api.response_models import ApiKeyList
from convoflow.api.responses import data, no_content
from convoflow.clock import utc_iso
from convoflow.services.projects import api_keys

router = APIRouter(tags=["API keys"])


def api_key_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A key without the key: it is shown once, at creation, and only its hash is kept."""
    return {
        "id": row["id"],
        "name": row["name"],
        "prefix": row["prefix"],
        "created_at": utc_iso(row["created_at"]),
        "revoked_at": utc_iso(row["revoked_at"]),
        "active": row["revoked_at"] is None,
    }


@router.get(
    "/api_keys", summary="List API keys (convoflow extension)", responses=success(ApiKeyList)
)
async def list_api_keys(actor: CurrentActor, engine: EngineDep) -> Response:
    """The project's keys, oldest first, revoked ones included; never the keys themselves."""
    rows = await api_keys.list_keys(engine, actor.project_id)
    return data([api_key_view(row) for row in rows])


@router.delete(
    "/api_keys/{api_key_id}", status_code=204, summary="Revoke API key (convoflow extension)"
)
async def revoke_api_key(api_key_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    """Revoke one of the project's keys (the calling key too, if named). Refused at once
    by this server, at once by every server on PostgreSQL, and within 10 seconds by other
    SQLite processes. 404 for a key of another project."""
    await api_keys.revoke(engine, actor.project_id, api_key_id)
    return no_content()
