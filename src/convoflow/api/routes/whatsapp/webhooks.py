"""/platform/v1/whatsapp/webhooks (project webhooks) and /webhook_deliveries (the log)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Response

from convoflow.api import whatsapp_views as views
from convoflow.api.auth import CurrentActor, EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.pagination import page_request, paging
from convoflow.api.responses import data, no_content, ok
from convoflow.api.routes.whatsapp.phone_numbers import page_meta
from convoflow.api.whatsapp_models import (
    WebhookBody,
    WebhookCreateBody,
    WebhookFields,
    WebhookTestBody,
)
from convoflow.services.project_webhooks import management as webhook_api

router = api_router(tags=["WhatsApp Webhooks"])
Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1..100)")]
Cursor = Annotated[str | None, Query(max_length=1000, description="Opaque cursor")]


def spec_of(fields: WebhookFields) -> webhook_api.WebhookFields:
    return webhook_api.WebhookFields(**fields.model_dump())


@router.post("/whatsapp/webhooks", status_code=201, summary="Create a project webhook")
async def create_webhook(
    body: WebhookCreateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    row = await webhook_api.create_webhook(engine, actor, spec_of(body.whatsapp_webhook))
    return data(views.webhook(row), status_code=201)


@router.get("/whatsapp/webhooks", summary="List project webhooks (newest first)")
async def list_webhooks(
    actor: CurrentActor,
    engine: EngineDep,
    kind: Literal["kapso", "meta"] | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    rows, total = await webhook_api.list_webhooks(
        engine, actor, kind=kind, page=page, per_page=per_page
    )
    meta, headers = page_meta(total, page, per_page)
    return ok({"data": [views.webhook(row) for row in rows], "meta": meta}, headers=headers)


@router.get("/whatsapp/webhooks/{webhook_id}", summary="Get a project webhook")
async def get_webhook(webhook_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    return data(views.webhook(await webhook_api.get_webhook(engine, actor, webhook_id)))


@router.patch("/whatsapp/webhooks/{webhook_id}", summary="Update a project webhook")
async def update_webhook(
    webhook_id: str, body: WebhookBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    row = await webhook_api.update_webhook(
        engine, actor, webhook_id, spec_of(body.whatsapp_webhook)
    )
    return data(views.webhook(row))


@router.delete("/whatsapp/webhooks/{webhook_id}", status_code=204, summary="Delete a webhook")
async def delete_webhook(webhook_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    await webhook_api.delete_webhook(engine, actor, webhook_id)
    return no_content()


@router.post("/whatsapp/webhooks/{webhook_id}/test", summary="Queue a test delivery")
async def test_webhook(
    webhook_id: str, actor: CurrentActor, engine: EngineDep, body: WebhookTestBody | None = None
) -> Response:
    event_type = body.event_type if body is not None else None
    await webhook_api.send_test(engine, actor, webhook_id, event_type)
    return data({"success": True})


@router.get("/webhook_deliveries", tags=["Webhook Deliveries"], summary="Delivery log")
async def list_deliveries(
    actor: CurrentActor,
    engine: EngineDep,
    status: Literal["pending", "delivered", "failed"] | None = None,
    event: Annotated[str | None, Query(max_length=64)] = None,
    webhook_id: Annotated[str | None, Query(max_length=64)] = None,
    errors_only: bool = False,
    period: Literal["24h", "7d", "30d"] = "24h",
    limit: Limit = 20,
    after: Cursor = None,
    before: Cursor = None,
) -> Response:
    filters = webhook_api.DeliveryFilters(
        status=status, event=event, webhook_id=webhook_id, errors_only=errors_only, period=period
    )
    page = await webhook_api.list_deliveries(
        engine, actor, filters, page_request(limit, after, before)
    )
    return ok({"data": [views.delivery(row) for row in page.rows], "paging": paging(page)})
