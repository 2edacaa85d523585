"""HTTP routes of the fake Graph API (state and behaviour live in fake_graph.FakeGraph).

Sends (`POST /{version}/{phone_number_id}/messages`) skip Starlette (`with_fast_sends`):
the fake answers one request per outbound message of a benchmark and must cost far less
than the server it measures; everything else goes through the routes below."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from convoflow.channels.whatsapp._json import integer, obj, text
from convoflow.channels.whatsapp.webhook_bodies import UserMessageError
from convoflow.fakes.graph.model import FakeGraphState

_FILTERS = ("to", "phone_number_id", "kind", "type", "wamid", "version")


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    return token or None


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def routes(fake: FakeGraphState) -> list[Route]:
    async def messages(request: Request) -> Response:
        status, answer = fake.handle_send(
            request.path_params["version"],
            request.path_params["phone_number_id"],
            await _json_body(request),
            _bearer(request),
        )
        return JSONResponse(answer, status_code=status)

    async def lookup(request: Request) -> Response:
        status, answer = fake.handle_lookup(
            request.path_params["phone_number_id"], _bearer(request)
        )
        return JSONResponse(answer, status_code=status)

    async def register(request: Request) -> Response:
        body = obj(await _json_body(request))
        number, token = text(body.get("phone_number_id")), text(body.get("access_token"))
        if not number or not token:
            return _bad_request("`phone_number_id` and `access_token` are required")
        details = {
            key: value
            for key in ("display_phone_number", "verified_name", "quality_rating")
            if (value := text(body.get(key)))
        }
        fake.register_number(number, token, **details)
        return JSONResponse({"data": {"phone_number_id": number}}, status_code=201)

    async def list_sent(request: Request) -> Response:
        filters = {key: request.query_params.get(key) for key in _FILTERS}
        records = fake.records(**filters)
        since = integer(request.query_params.get("since"))
        if since is not None:
            records = [r for r in records if r["seq"] > since]
        return JSONResponse({"data": records})

    async def clear_sent(_request: Request) -> Response:
        fake.sent.clear()
        return JSONResponse({"data": {"cleared": True}})

    async def add_error(request: Request) -> Response:
        body = obj(await _json_body(request))
        code = integer(body.get("code"))
        if code is None:
            return _bad_request("`code` (a Graph error code, e.g. 131047) is required")
        forced = fake.force_error(
            code,
            to=text(body.get("to")) or "*",
            count=integer(body.get("count")) or 1,
            http_status=integer(body.get("http_status")),
            message=text(body.get("message")),
            details=text(body.get("details")),
            mode=text(body.get("mode")) or "sync",
        )
        return JSONResponse({"data": vars(forced)}, status_code=201)

    async def list_errors(_request: Request) -> Response:
        data = {to: [vars(f) for f in queue] for to, queue in fake.forced.items() if queue}
        return JSONResponse({"data": data})

    async def clear_errors(_request: Request) -> Response:
        fake.forced.clear()
        return JSONResponse({"data": {"cleared": True}})

    async def inbound(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return _bad_request("send a JSON object: {from, text | button_reply | ...}")
        try:
            result = await fake.simulate_inbound(body)
        except UserMessageError as exc:
            return _bad_request(str(exc))
        return JSONResponse({"data": result})

    async def webhooks(_request: Request) -> Response:
        return JSONResponse({"data": fake.webhooks})

    async def config(request: Request) -> Response:
        if request.method == "POST":
            fake.configure(obj(await _json_body(request)))
        return JSONResponse({"data": fake.config.public()})

    async def reset(_request: Request) -> Response:
        fake.sent.clear()
        fake.webhooks.clear()
        fake.forced.clear()
        return JSONResponse({"data": {"reset": True}})

    async def health(_request: Request) -> Response:
        return JSONResponse({"data": {"ok": True, "sent": len(fake.sent)}})

    return [
        Route("/_fake/sent", list_sent, methods=["GET"]),
        Route("/_fake/sent", clear_sent, methods=["DELETE"]),
        Route("/_fake/errors", add_error, methods=["POST"]),
        Route("/_fake/errors", list_errors, methods=["GET"]),
        Route("/_fake/errors", clear_errors, methods=["DELETE"]),
        Route("/_fake/inbound", inbound, methods=["POST"]),
        Route("/_fake/webhooks", webhooks, methods=["GET"]),
        Route("/_fake/config", config, methods=["GET", "POST"]),
        Route("/_fake/reset", reset, methods=["POST"]),
        Route("/_fake/health", health, methods=["GET"]),
        Route("/_fake/numbers", register, methods=["POST"]),
        Route("/{version}/{phone_number_id}/messages", messages, methods=["POST"]),
        Route("/{version}/{phone_number_id}", lookup, methods=["GET"]),
    ]


_JSON_HEADERS = (b"content-type", b"application/json")


def with_fast_sends(fake: FakeGraphState, app: ASGIApp) -> ASGIApp:
    """`app` with the send route answered directly (same behaviour as `messages` above:
    same path match, same handling, same JSON answer)."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            parts = scope["path"].split("/")
            if len(parts) == 4 and parts[3] == "messages" and parts[1] and parts[2]:
                await _fast_send(fake, scope, receive, send, parts[1], parts[2])
                return
        await app(scope, receive, send)

    return asgi


async def _fast_send(
    fake: FakeGraphState, scope: Scope, receive: Receive, send: Send, version: str, number: str
) -> None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    header = b""
    for name, value in scope["headers"]:
        if name == b"authorization":
            header = value
    token = header[7:].strip().decode("latin-1") if header[:7].lower() == b"bearer " else None
    try:
        body: Any = orjson.loads(b"".join(chunks))
    except ValueError:
        body = None
    status, answer = fake.handle_send(version, number, body, token or None)
    payload = orjson.dumps(answer)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON_HEADERS, (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
