"""`/platform/v1/sandbox/conversations/{id}/...` (our extension, docs/api.md): the
console's test chat reads a sandbox conversation, speaks as its user, and skips a wait."""

from __future__ import annotations

from fastapi import Response

from convoflow.api import views
from convoflow.api.auth import CurrentActor, EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.models import SandboxMessageBody, SkipWaitBody
from convoflow.api.openapi import error_responses, success
from convoflow.api.response_models import (
    SandboxSaidData,
    SandboxTimers,
    SandboxTranscript,
    SkipWaitData,
)
from convoflow.api.responses import data
from convoflow.services.conversations import sandbox_chat, skip_wait

router = api_router(tags=["Sandbox"])


@router.get(
    "/sandbox/conversations/{conversation_id}/messages",
    summary="A sandbox conversation's messages, oldest first (extension)",
    responses=success(SandboxTranscript),
)
async def list_sandbox_messages(
    conversation_id: str, actor: CurrentActor, engine: EngineDep
) -> Response:
    rows = await sandbox_chat.transcript(engine, actor, conversation_id)
    return data([views.sandbox_message(row) for row in rows])


@router.post(
    "/sandbox/conversations/{conversation_id}/messages",
    status_code=202,
    summary="Say something as the sandbox user (routed like an inbound message; extension)",
    responses=success(SandboxSaidData, 202),
)
async def send_sandbox_message(
    conversation_id: str, body: SandboxMessageBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    message_id = await sandbox_chat.say(engine, actor, conversation_id, body.text)
    return data({"id": message_id}, status_code=202)


@router.get(
    "/sandbox/conversations/{conversation_id}/timers",
    summary="A sandbox conversation's pending timeouts and delays, soonest first (extension)",
    responses=success(SandboxTimers),
)
async def list_sandbox_timers(
    conversation_id: str, actor: CurrentActor, engine: EngineDep
) -> Response:
    timers = await skip_wait.pending_timers(engine, actor, conversation_id)
    return data([views.sandbox_timer(item) for item in timers])


@router.post(
    "/sandbox/conversations/{conversation_id}/skip_wait",
    summary="Fire a sandbox conversation's pending timeout or delay now (extension)",
    # 409: nothing in the conversation waits on a timer.
    responses={**success(SkipWaitData), **error_responses(409)},
)
async def skip_sandbox_wait(
    conversation_id: str,
    actor: CurrentActor,
    engine: EngineDep,
    body: SkipWaitBody | None = None,
) -> Response:
    seconds = body.seconds if body is not None else None
    skipped = await skip_wait.skip_wait(engine, actor, conversation_id, seconds)
    return data(views.skipped_timers(skipped))
