"""/platform/v1/provider_models: Kapso's list (`{id, name, provider}`, plus ours), and our
create / retrieve / update / delete. The API key is write-only (`has_api_key` only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Response

from convoflow.api.auth import CurrentActor, EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.models import (
    ProviderModelCreateBody,
    ProviderModelUpdateBody,
    ProviderModelUpdateFields,
)
from convoflow.api.openapi import success
from convoflow.api.response_models import ProviderModelData
from convoflow.api.responses import data, no_content
from convoflow.clock import utc_iso
from convoflow.services.ai import provider_models as models
from convoflow.services.ai.provider_models import ModelFields

router = api_router(tags=["Provider Models"])
# PATCH fields that null may clear; a null elsewhere means "not sent".
_CLEARABLE = ("api_key", "timeout_seconds")


def provider_model_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "provider": row["provider"],
        "model": row["model"],
        "base_url": row["base_url"],
        "has_api_key": row["api_key"] is not None,
        "timeout_seconds": (row["settings"] or {}).get("timeout_seconds"),
        "created_at": utc_iso(row["created_at"]),
        "updated_at": utc_iso(row["updated_at"]),
    }


def _fields(values: ProviderModelUpdateFields | Any) -> ModelFields:
    fields = ModelFields()
    for name in values.model_fields_set:
        value = getattr(values, name)
        if value is not None or name in _CLEARABLE:
            setattr(fields, name, value)
    return fields


@router.get("/provider_models", summary="List provider models")
async def list_provider_models(actor: CurrentActor, engine: EngineDep) -> Response:
    return data([provider_model_view(row) for row in await models.list_models(engine, actor)])


@router.post(
    "/provider_models",
    status_code=201,
    summary="Create provider model",
    responses=success(ProviderModelData, 201),
)
async def create_provider_model(
    body: ProviderModelCreateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    row = await models.create(engine, actor, _fields(body.provider_model))
    return data(provider_model_view(row), status_code=201)


@router.get(
    "/provider_models/{provider_model_id}",
    summary="Retrieve provider model",
    responses=success(ProviderModelData),
)
async def get_provider_model(
    provider_model_id: str, actor: CurrentActor, engine: EngineDep
) -> Response:
    return data(provider_model_view(await models.get_model(engine, actor, provider_model_id)))


@router.patch(
    "/provider_models/{provider_model_id}",
    summary="Update provider model",
    responses=success(ProviderModelData),
)
async def update_provider_model(
    provider_model_id: str, body: ProviderModelUpdateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    row = await models.update(engine, actor, provider_model_id, _fields(body.provider_model))
    return data(provider_model_view(row))


@router.delete(
    "/provider_models/{provider_model_id}", status_code=204, summary="Delete provider model"
)
async def delete_provider_model(
    provider_model_id: str, actor: CurrentActor, engine: EngineDep
) -> Response:
    await models.delete(engine, actor, provider_model_id)
    return no_content()
