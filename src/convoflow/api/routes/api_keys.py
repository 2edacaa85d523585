"""/platform/v1/api_keys: create, list and revoke the project's API keys (ours, not in
Kapso's API; `convoflow api-keys create` makes them too)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Response
from pydantic import Field

from convoflow.api.auth import CurrentActor, EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.models import Body
from convoflow.api.openapi import success
from convoflow.api.response_models import ApiKeyList, CreatedApiKeyData
from convoflow.api.responses import data, no_content
from convoflow.clock import utc_iso
from convoflow.services.projects import api_keys

router = api_router(tags=["API keys"])


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


class ApiKeyCreateBody(Body):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None


@router.post(
    "/api_keys",
    status_code=201,
    summary="Create API key (convoflow extension)",
    responses=success(CreatedApiKeyData, 201),
)
async def create_api_key(
    body: ApiKeyCreateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    """A new key for the caller's project. `key` is in this answer only: just its hash is
    kept, so it cannot be shown again."""
    key_id, key = await api_keys.create(engine, actor.project_id, body.name)
    rows = await api_keys.list_keys(engine, actor.project_id)
    row = next(row for row in rows if row["id"] == key_id)
    return data({**api_key_view(row), "key": key}, status_code=201)


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
