"""/platform/v1/whatsapp/conversations and /messages (reads, PATCH status, human sends)
and Kapso's Meta proxy `POST /meta/whatsapp/{version}/{phone_number_id}/messages`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Response

from convoflow.api import whatsapp_views as views
from convoflow.api.auth import CurrentActor, EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.errors import ApiError
from convoflow.api.openapi import PROXY_ERROR_REF, error_responses, success
from convoflow.api.pagination import page_request, paging
from convoflow.api.params import Timestamp
from convoflow.api.response_models import MetaSendResult, Success, SuccessData
from convoflow.api.responses import data, ok
from convoflow.api.whatsapp_models import ConversationUpdateBody, MessageSendBody, ProxySendBody
from convoflow.channels.whatsapp.errors import GraphError, describe
from convoflow.services.whatsapp import inbox as whatsapp_api
from convoflow.services.whatsapp import send as whatsapp_send

router = api_router(tags=["WhatsApp Conversations"])
proxy_router = api_router(tags=["Meta proxy"])

Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1..100)")]
Cursor = Annotated[str | None, Query(max_length=1000, description="Opaque cursor")]
ShortText = Annotated[str | None, Query(max_length=200)]


@router.get("/whatsapp/conversations", summary="List conversations (cursor paging)")
async def list_conversations(
    actor: CurrentActor,
    engine: EngineDep,
    phone_number_id: ShortText = None,
    phone_number: ShortText = None,
    status: Literal["active", "ended"] | None = None,
    created_after: Timestamp | None = None,
    created_before: Timestamp | None = None,
    last_active_after: Timestamp | None = None,
    last_active_before: Timestamp | None = None,
    limit: Limit = 20,
    after: Cursor = None,
    before: Cursor = None,
) -> Response:
    filters = whatsapp_api.ConversationFilters(
        phone_number_id=phone_number_id,
        phone_number=phone_number,
        status=status,
        created_after=created_after,
        created_before=created_before,
        last_active_after=last_active_after,
        last_active_before=last_active_before,
    )
    page, items = await whatsapp_api.list_conversations(
        engine, actor, filters, page_request(limit, after, before)
    )
    return ok({"data": [views.conversation(item) for item in items], "paging": paging(page)})


@router.get("/whatsapp/conversations/{conversation_id}", summary="Get a conversation")
async def get_conversation(
    conversation_id: str, actor: CurrentActor, engine: EngineDep
) -> Response:
    return data(
        views.conversation(await whatsapp_api.get_conversation(engine, actor, conversation_id))
    )


@router.patch(
    "/whatsapp/conversations/{conversation_id}",
    summary="End or reopen a conversation",
    responses=error_responses(409),
)
async def update_conversation(
    conversation_id: str, body: ConversationUpdateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    status = body.whatsapp_conversation.status
    item = await whatsapp_api.set_conversation_status(engine, actor, conversation_id, status)
    return data(views.conversation(item))


@router.get("/whatsapp/messages", summary="List messages (cursor paging)")
async def list_messages(
    actor: CurrentActor,
    engine: EngineDep,
    phone_number_id: ShortText = None,
    conversation_id: Annotated[str | None, Query(max_length=64)] = None,
    phone_number: ShortText = None,
    direction: Literal["inbound", "outbound"] | None = None,
    status: Literal["pending", "sent", "delivered", "read", "failed"] | None = None,
    message_type: Annotated[str | None, Query(max_length=32)] = None,
    has_media: bool | None = None,
    limit: Limit = 20,
    after: Cursor = None,
    before: Cursor = None,
) -> Response:
    filters = whatsapp_api.MessageFilters(
        phone_number_id=phone_number_id,
        conversation_id=conversation_id,
        phone_number=phone_number,
        direction=direction,
        status=status,
        message_type=message_type,
        has_media=has_media,
    )
    page, items = await whatsapp_api.list_messages(
        engine, actor, filters, page_request(limit, after, before)
    )
    return ok({"data": [views.message(item) for item in items], "paging": paging(page)})


@router.get("/whatsapp/messages/{message_id}", summary="Get a message by its wamid")
async def get_message(message_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    return data(views.message(await whatsapp_api.get_message(engine, actor, message_id)))


def _graph_failure(error: GraphError) -> ApiError:
    """A refused send: the status Meta gave when it is a client error, else 502."""
    status = error.http_status if error.http_status and 400 <= error.http_status < 500 else 502
    detail = describe(error)
    return ApiError(status, str(detail["message"]), extra={"whatsapp_error": detail})


@router.post(
    "/whatsapp/messages",
    status_code=201,
    summary="Send a message as a human",
    # 201 with the message (Kapso's WhatsappMessage, api/openapi.py); 200 for a read receipt.
    responses=success(SuccessData),
)
async def send_message(body: MessageSendBody, actor: CurrentActor, engine: EngineDep) -> Response:
    outcome = await whatsapp_send.send_human_message(
        engine,
        actor,
        phone_number_id=body.phone_number_id,
        body=body.meta(),
        conversation_id=body.conversation_id,
    )
    if outcome.error is not None:
        raise _graph_failure(outcome.error)
    if outcome.read_receipt or outcome.message is None:
        return data({"success": True})
    return data(views.message(outcome.message), status_code=201)


@proxy_router.post(
    "/meta/whatsapp/{version}/{phone_number_id}/messages",
    summary="Kapso's Meta proxy: send with Meta's body, get Meta's answer",
    responses={
        **success(MetaSendResult | Success),
        **error_responses(400, 401, 403, 404, 413, 422, 429, 500, 502, schema_ref=PROXY_ERROR_REF),
    },
)
async def proxy_send(
    version: str,
    phone_number_id: str,
    body: ProxySendBody,
    actor: CurrentActor,
    engine: EngineDep,
) -> Response:
    outcome = await whatsapp_send.send_human_message(
        engine, actor, phone_number_id=phone_number_id, body=body.meta()
    )
    if outcome.error is not None:
        error = outcome.error
        meta_error = {
            "message": error.message,
            "type": error.error_type or "OAuthException",
            "code": error.code,
            "error_data": {"messaging_product": "whatsapp", "details": error.details},
            "fbtrace_id": error.fbtrace_id,
        }
        return ok({"error": meta_error}, status_code=error.http_status or 502)
    if outcome.read_receipt:
        return ok({"success": True})
    return ok(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": outcome.to, "wa_id": outcome.to}],
            "messages": [{"id": outcome.wamid}],
        }
    )
