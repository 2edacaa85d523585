"""The outermost layer of the app (pure ASGI, so it costs no extra task per request):

- refuses URLs with NUL characters (PostgreSQL cannot store or compare them);
- copies the rate-limit headers the auth dependency left in `scope["state"]` onto the
  response, whatever produced it (a route, an error handler);
- turns an unexpected exception into a logged JSON 500 instead of a bare text page.
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

RATE_HEADERS_KEY = "convoflow_rate_headers"
INTERNAL_ERROR = (
    "Internal server error: this is a bug in convoflow and has been logged; the request "
    "may be retried"
)


def json_message(status: int, body: dict[str, Any]) -> tuple[Message, Message]:
    """The two ASGI messages of a JSON response sent without a Response object."""
    payload = orjson.dumps(body)
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": payload}


class ApiMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path") or scope.get("path", "").encode()
        if b"%00" in raw or b"\x00" in raw or b"%00" in scope.get("query_string", b""):
            start, body = json_message(
                400, {"error": "NUL characters (%00) are not allowed in URLs or query strings"}
            )
            await send(start)
            await send(body)
            return
        state = scope.setdefault("state", {})
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = state.get(RATE_HEADERS_KEY)
                if extra:
                    headers = list(message.get("headers", []))
                    headers.extend((k.lower().encode(), str(v).encode()) for k, v in extra.items())
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error", method=scope.get("method"), path=scope.get("path"))
            if started:
                raise
            start, body = json_message(500, {"error": INTERNAL_ERROR})
            await send_with_headers(start)
            await send(body)
