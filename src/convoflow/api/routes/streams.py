"""Live updates as server-sent events (our extension, docs/api.md "Live streams"):

- `GET /workflow_executions/{id}/events/stream`: the execution's events and its state;
- `GET /whatsapp/conversations/{id}/events/stream`: a conversation's messages (Kapso's
  message document), new ones and status changes (delivery ticks);
- `GET /sandbox/conversations/{id}/events/stream`: a test chat's messages (the sandbox
  transcript's shape) and its newest execution;
- `GET /inbox/events/stream`: the project's conversations as they get messages.

Authenticated like every route (X-API-Key or a bearer token, never a query string: a
browser's EventSource cannot send headers, so the console reads the stream with fetch).
Another project's id is the same 404 as an unknown one, before anything streams; a key
revoked while its stream is open ends the stream within about a second. Each
event's `id` is its position; a client that reconnects sends the last one it got as
`Last-Event-ID` and resumes there without losing anything. A comment line is sent every
15 seconds so proxies keep the connection open. One API key holds at most
`CONVOFLOW_MAX_STREAMS_PER_KEY` streams open in this process, and all the keys of one
project together at most `CONVOFLOW_MAX_STREAMS_PER_PROJECT`: one more is a 429 with
Retry-After, before anything streams (services/streams/slots.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Header, Request
from fastapi.security.utils import get_authorization_scheme_param
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from convoflow.api import views, whatsapp_views
from convoflow.api.auth import CurrentActor, EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.openapi import error_responses
from convoflow.process import Process
from convoflow.services.common import Actor
from convoflow.services.projects.key_cache import resolve_key
from convoflow.services.streams import feeds
from convoflow.services.streams.follow import Change, Feed, follow
from convoflow.services.streams.slots import RETRY_AFTER_SECONDS, StreamSlot

router = api_router(tags=["Live streams"])

PING_SECONDS = 15
# Ids are positions: an event seq or microseconds since the epoch (services/streams).
LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        pattern=r"^[0-9]{1,20}$",
        description="The `id` of the last event received: the stream resumes after it",
    ),
]
TOO_MANY = error_responses(429)[429]
STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A stream of server-sent events (text/event-stream) that does not end",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    429: {
        **TOO_MANY,
        "description": "The API key already holds `CONVOFLOW_MAX_STREAMS_PER_KEY` live "
        "streams open (default 20 per server process), or the project's keys together "
        "`CONVOFLOW_MAX_STREAMS_PER_PROJECT` (default 5 times the per-key cap), or the key "
        "went past its rate limit; `Retry-After` says when to retry",
        "headers": {
            "Retry-After": {
                "description": f"Seconds to wait ({RETRY_AFTER_SECONDS} when the key or the "
                "project holds too many streams, 60 past the rate limit)",
                "schema": {"type": "integer"},
            }
        },
    },
}
Render = Callable[[Change], Any]


class SlotHoldingResponse(EventSourceResponse):
    """An event stream that gives its slot back when the response is over, however it
    ends: the client disconnected, the stream ended (a revoked key), the server is
    stopping (sse_starlette ends open streams on uvicorn's exit), a send failed, or the
    task was cancelled. Not the event generator's `finally`: it never runs when the
    generator was never started (a HEAD request, a response that failed before its first
    event) and runs only when something closes it. Not the response's `background`: it is
    skipped when the response ends by an exception or a cancellation."""

    def __init__(self, content: AsyncIterator[ServerSentEvent], slot: StreamSlot) -> None:
        super().__init__(content, ping=PING_SECONDS, headers={"Cache-Control": "no-cache"})
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()


def _stream(request: Request, actor: Actor, feed: Feed, render: Render) -> EventSourceResponse:
    engine: Process = request.app.state.engine
    allowed = _key_still_valid(request, engine, actor)

    async def events() -> AsyncIterator[ServerSentEvent]:
        async for changes in follow(engine, feed, allowed):
            for change in changes:
                yield ServerSentEvent(
                    data=orjson.dumps(render(change)).decode(),
                    event=change.kind,
                    id=str(change.position),
                )

    # Taken last, once every refusal (404, 422) is behind: nothing between here and the
    # response's own run can fail and leave the slot taken.
    slot = engine.streams.take(actor.key_id or actor.project_id, actor.project_id)
    return SlotHoldingResponse(events(), slot)


def _key_still_valid(
    request: Request, engine: Process, actor: Actor
) -> Callable[[], Awaitable[bool]]:
    """Whether the key that opened the stream still stands for the same caller: a key
    revoked while its stream is open ends the stream (the key cache forgets it at once)."""
    key = request.headers.get("x-api-key", "").strip()
    if not key:
        scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
        key = credentials.strip() if scheme.lower() == "bearer" else ""

    async def still_valid() -> bool:
        found = await resolve_key(engine.db, engine.key_cache, key) if key else None
        return found is not None and found.key_id == actor.key_id

    return still_valid


def _position(last_event_id: str | None) -> int | None:
    return int(last_event_id) if last_event_id is not None else None


def _execution_state(state: feeds.ExecutionState) -> dict[str, Any]:
    view = views.execution_detail(state.info, [], state.resumable_execution_id)
    view.pop("events")
    return view


def _render_execution_stream(change: Change) -> Any:
    if change.kind == "event":
        item: feeds.EventItem = change.value
        return views.event(item.row, item.version_id, item.graph)
    return _execution_state(change.value)


def _render_sandbox_stream(change: Change) -> Any:
    if change.kind == "message":
        return views.sandbox_message(change.value.row)
    return _execution_state(change.value)


@router.get(
    "/workflow_executions/{execution_id}/events/stream",
    summary="Follow an execution: its events and state as server-sent events (extension)",
    response_class=EventSourceResponse,
    responses=STREAM_RESPONSE,
)
async def stream_execution(
    request: Request,
    execution_id: str,
    actor: CurrentActor,
    engine: EngineDep,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    feed = await feeds.open_execution(engine, actor, execution_id, _position(last_event_id))
    return _stream(request, actor, feed, _render_execution_stream)


@router.get(
    "/whatsapp/conversations/{conversation_id}/events/stream",
    summary="Follow a conversation's messages as server-sent events (extension)",
    response_class=EventSourceResponse,
    responses=STREAM_RESPONSE,
)
async def stream_conversation(
    request: Request,
    conversation_id: str,
    actor: CurrentActor,
    engine: EngineDep,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    feed = await feeds.open_conversation(engine, actor, conversation_id, _position(last_event_id))
    return _stream(request, actor, feed, lambda change: whatsapp_views.message(change.value))


@router.get(
    "/sandbox/conversations/{conversation_id}/events/stream",
    summary="Follow a test chat: its messages and execution as server-sent events (extension)",
    response_class=EventSourceResponse,
    responses=STREAM_RESPONSE,
)
async def stream_sandbox_chat(
    request: Request,
    conversation_id: str,
    actor: CurrentActor,
    engine: EngineDep,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    feed = await feeds.open_sandbox_chat(engine, actor, conversation_id, _position(last_event_id))
    return _stream(request, actor, feed, _render_sandbox_stream)


@router.get(
    "/inbox/events/stream",
    summary="Follow the project's conversations as they get messages (extension)",
    response_class=EventSourceResponse,
    responses=STREAM_RESPONSE,
)
async def stream_inbox(
    request: Request, actor: CurrentActor, engine: EngineDep, last_event_id: LastEventId = None
) -> EventSourceResponse:
    feed = feeds.InboxFeed(engine, actor, _position(last_event_id))
    return _stream(request, actor, feed, lambda change: whatsapp_views.conversation(change.value))
