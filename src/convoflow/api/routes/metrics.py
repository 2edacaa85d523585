"""`GET /metrics`: Prometheus text. Loopback clients only, unless CONVOFLOW_METRICS_TOKEN
is set; then every client must present it as a bearer token. Not part of the Kapso API
(left out of /openapi.json)."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from convoflow.api.auth import EngineDep
from convoflow.api.responses import ok
from convoflow.services.metrics import scrape

router = APIRouter()


def _is_loopback(request: Request) -> bool:
    client = request.scope.get("client")
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    # A server listening on `::` sees IPv4 clients as ::ffff:a.b.c.d.
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def _refusal(request: Request, token: str | None) -> Response | None:
    if token:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), token.encode()
        ):
            return None
        return ok(
            {"error": "Unauthorized: expected Authorization: Bearer <CONVOFLOW_METRICS_TOKEN>"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if _is_loopback(request):
        return None
    return ok(
        {
            "error": "Forbidden: /metrics answers loopback clients only; set "
            "CONVOFLOW_METRICS_TOKEN and send it as a bearer token to scrape from elsewhere"
        },
        status_code=403,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, engine: EngineDep) -> Response:
    refusal = _refusal(request, engine.runtime.settings.metrics_token)
    if refusal is not None:
        return refusal
    return Response(await scrape(engine), media_type=CONTENT_TYPE_LATEST)
