"""/platform/v1/whatsapp/phone_numbers: connect, list, read and update numbers. The
access token, app secret and verify token are write-only."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Query, Response

from convoflow.api import whatsapp_views as views
from convoflow.api.auth import CurrentActor, EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.openapi import error_responses
from convoflow.api.params import Timestamp
from convoflow.api.responses import data, ok
from convoflow.api.whatsapp_models import PhoneNumberCreateBody, PhoneNumberUpdateBody
from convoflow.services.whatsapp import phone_numbers as numbers

router = api_router(tags=["WhatsApp Phone Numbers"])
Page = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=100)]
ShortText = Annotated[str | None, Query(max_length=200)]


def page_meta(total: int, page: int, per_page: int) -> tuple[dict[str, int], dict[str, str]]:
    """Kapso's page-based `meta` block and its X-Total* headers."""
    pages = math.ceil(total / per_page) if total else 0
    meta = {"page": page, "per_page": per_page, "total_pages": pages, "total_count": total}
    headers = {"X-Total": str(total), "X-Total-Pages": str(pages), "X-Per-Page": str(per_page),
               "X-Page": str(page)}  # fmt: skip
    return meta, headers


@router.post(
    "/whatsapp/phone_numbers",
    status_code=201,
    summary="Connect a WhatsApp number",
    responses=error_responses(409),
)
async def create_number(
    body: PhoneNumberCreateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    fields = body.whatsapp_phone_number
    spec = numbers.NumberSpec(
        phone_number_id=fields.phone_number_id,
        access_token=fields.access_token,
        app_secret=fields.app_secret,
        verify_token=fields.webhook_verify_token or fields.verify_token,
        display_phone_number=fields.display_phone_number,
        business_account_id=fields.business_account_id,
        name=fields.name,
        inbound_processing_enabled=fields.inbound_processing_enabled,
    )
    row = await numbers.add_number(engine, actor, spec)
    return data(views.phone_number(row), status_code=201)


@router.get("/whatsapp/phone_numbers", summary="List WhatsApp numbers (newest first)")
async def list_numbers(
    actor: CurrentActor,
    engine: EngineDep,
    phone_number_id: ShortText = None,
    business_account_id: ShortText = None,
    name_contains: ShortText = None,
    created_after: Timestamp | None = None,
    created_before: Timestamp | None = None,
    page: Page = 1,
    per_page: PerPage = 20,
) -> Response:
    result = await numbers.list_numbers(
        engine,
        actor,
        page=page,
        per_page=per_page,
        phone_number_id=phone_number_id,
        business_account_id=business_account_id,
        name_contains=name_contains,
        created_after=created_after,
        created_before=created_before,
    )
    meta, headers = page_meta(result.total, page, per_page)
    body = {"data": [views.phone_number(row) for row in result.rows], "meta": meta}
    return ok(body, headers=headers)


@router.get("/whatsapp/phone_numbers/{phone_number_id}", summary="Get a WhatsApp number")
async def get_number(phone_number_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    return data(views.phone_number(await numbers.get_number(engine, actor, phone_number_id)))


@router.patch("/whatsapp/phone_numbers/{phone_number_id}", summary="Update a WhatsApp number")
async def update_number(
    phone_number_id: str, body: PhoneNumberUpdateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    fields = body.whatsapp_phone_number
    changes = numbers.NumberChanges(
        name=fields.name,
        display_phone_number=fields.display_phone_number,
        business_account_id=fields.business_account_id,
        access_token=fields.access_token,
        app_secret=fields.app_secret,
        verify_token=fields.webhook_verify_token or fields.verify_token,
        inbound_processing_enabled=fields.inbound_processing_enabled,
    )
    row = await numbers.update_number(engine, actor, phone_number_id, changes)
    return data(views.phone_number(row))
