"""Request bodies: how large they may be, and the one way JSON in them is decoded.

Size limits (bytes), enforced by `BodyLimits` while the body streams in: a declared
Content-Length over the limit is refused before anything is read, and a body sent
without one (chunked) is refused as soon as the bytes received pass it, so a 50 MB body
is never buffered. The answer is a 413 with a JSON error naming the limit.

- `POST /webhooks/whatsapp` (Meta's webhooks): 3 MB (`WEBHOOK_BODY_BYTES`);
- the requests that carry a workflow definition, `POST /platform/v1/workflows`,
  `PATCH /platform/v1/workflows/{id}`, `POST /api/v1/flows`, `PATCH /api/v1/flows/{id}`
  and the editor's `POST /platform/v1/definitions/validate` (what can be saved can be
  checked): `CONVOFLOW_MAX_DEFINITION_BYTES` (default 2 MB);
- every other request: 1 MB (`API_BODY_BYTES`).

JSON: routes with a body model decode it through `JsonRoute` (every router of the app is
built by `api_router`), routes that read raw bytes call `json_body`; both use
`convoflow.json_input.decode`, so nesting deeper than 64 levels is a 400 everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from convoflow import json_input
from convoflow.api.middleware import json_message
from convoflow.api.models import BODY_STORABLE, check_json

API_BODY_BYTES = 1_000_000
WEBHOOK_BODY_BYTES = 3_000_000
# Decoding a body this large takes long enough to matter to other requests: off the loop,
# in a worker process (engine/cpu.py; json.loads holds the GIL for all of a 2 MB body).
OFF_LOOP_DECODE_BYTES = 256_000

_WEBHOOK = re.compile(r"/webhooks/whatsapp/?")
_DEFINITION = re.compile(
    r"/(?:(?:platform/v1/workflows|api/v1/flows)(?:/[^/]+)?|platform/v1/definitions/validate)/?"
)
DEFINITION_METHODS = ("POST", "PATCH")


class BodyTooLarge(HTTPException):
    """Raised from the receive channel; the app's error handlers render it as JSON."""

    def __init__(self, limit: int, method: str, path: str) -> None:
        super().__init__(413, too_large_message(limit, method, path))


def too_large_message(limit: int, method: str, path: str) -> str:
    return (
        f"Request body is too large: {method} {path} accepts at most {limit} bytes "
        "(see docs/api.md, Limits)"
    )


def body_limit(method: str, path: str, definition_bytes: int) -> int:
    if method == "POST" and _WEBHOOK.fullmatch(path):
        return WEBHOOK_BODY_BYTES
    if method in DEFINITION_METHODS and _DEFINITION.fullmatch(path):
        return definition_bytes
    return API_BODY_BYTES


class BodyLimits:
    def __init__(self, app: ASGIApp, definition_bytes: int) -> None:
        self.app = app
        self.definition_bytes = definition_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        limit = body_limit(method, path, self.definition_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            for message in json_message(413, {"error": too_large_message(limit, method, path)}):
                await send(message)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, method, path)
            return message

        await self.app(scope, limited, send)


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body of a request served without Starlette (the webhook's direct lane):
    BodyTooLarge by its declared Content-Length before a byte is read, else as soon as the
    bytes received pass `limit`; ClientDisconnect when the client went away."""
    method, path = scope["method"], scope["path"]
    declared = _content_length(scope)
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit, method, path)
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(limit, method, path)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


async def json_body(request: Request) -> Any:
    """The request's body decoded as JSON; HTTPException(400) saying what was expected."""
    raw = await request.body()
    try:
        if len(raw) > OFF_LOOP_DECODE_BYTES:
            cpu = request.app.state.engine.cpu
            value, storable = await cpu.run_in_process(decode_and_check, raw)
            BODY_STORABLE.set(storable)
            return value
        return json_input.decode(raw)
    except json_input.JsonInputError as exc:
        if exc.too_deep:
            raise HTTPException(400, str(exc)) from None
        raise HTTPException(
            400, f"Invalid JSON in request body: {exc}; expected a JSON object"
        ) from None


def decode_and_check(raw: bytes) -> tuple[Any, bool]:
    """The body decoded, and whether all of it is storable (`check_json`): then the body
    models need not walk it again on the event loop. In a worker process (engine/cpu.py)."""
    value = json_input.decode(raw)
    try:
        check_json(value)
    except ValueError:
        return value, False  # the models find and name the problem
    return value, True


class _JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = await json_body(self)
        return self._json


class JsonRoute(APIRoute):
    """FastAPI decodes body models with `request.json()`: ours, through `json_body`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def decode_with_limits(request: Request) -> Response:
            # json_body may set BODY_STORABLE for this request's models: never beyond it
            # (an in-process test client runs requests in its own context).
            token = BODY_STORABLE.set(False)
            try:
                return await handler(_JsonRequest(request.scope, request.receive))
            finally:
                BODY_STORABLE.reset(token)

        return decode_with_limits


def api_router(**options: Any) -> APIRouter:
    """Every router of the app: its routes decode JSON through `json_body`."""
    return APIRouter(route_class=JsonRoute, **options)
