"""Every error is JSON `{"error": "<specific message>"}` (+ `details` for validation).

Mapping: service NotFound -> 404, Invalid -> 422, Conflict -> 409, BadRequest -> 400,
TooMany -> 429 with Retry-After;
malformed JSON -> 400; a missing body -> 400; schema violations -> 422 listing every
problem; unknown route -> 404; wrong method -> 405; the database unreachable (restarting,
down) -> 503 with Retry-After. Anything else is a bug: the middleware in
api/middleware.py logs it and answers a JSON 500.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from convoflow.services.common import (
    BadRequest,
    Conflict,
    Invalid,
    NotFound,
    ServiceError,
    TooMany,
    Unavailable,
)
from convoflow.store.faults import DatabaseUnavailable

log = structlog.get_logger(__name__)


class ApiError(Exception):
    """An error response decided in the API layer (auth, rate limits, cursors)."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.details = details
        self.headers = headers
        self.extra = extra or {}


def error_body(message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message}
    if details:
        body["details"] = details
    return body


_SERVICE_STATUS: dict[type[ServiceError], int] = {
    NotFound: 404,
    Invalid: 422,
    Conflict: 409,
    BadRequest: 400,
    Unavailable: 503,
    TooMany: 429,
}


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    body = {**error_body(exc.message, exc.details), **exc.extra}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    status = next((code for kind, code in _SERVICE_STATUS.items() if isinstance(exc, kind)), 422)
    headers = {"Retry-After": "5"} if status == 503 else None
    if isinstance(exc, TooMany):
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    return JSONResponse(error_body(exc.message, exc.details), status_code=status, headers=headers)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # An outage, not a bug: one line, no traceback.
    log.warning("database unavailable", path=request.url.path, error=str(exc))
    return JSONResponse(
        error_body(
            "The database is unavailable right now (restarting or unreachable): retry the "
            "request in a few seconds"
        ),
        status_code=503,
        headers={"Retry-After": "2"},
    )


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part != "body"] if loc[:1] == ("body",) else list(loc)
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def _unparsed_body(error: Any) -> bool:
    """FastAPI hands a non-JSON content type to validation as raw bytes or text."""
    return tuple(error.get("loc", ())) == ("body",) and isinstance(error.get("input"), bytes | str)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "not valid JSON")
            return JSONResponse(
                error_body(f"Invalid JSON in request body: {reason}; expected a JSON object"),
                status_code=400,
            )
    if any(_unparsed_body(e) for e in errors):
        return JSONResponse(
            error_body(
                "Request body is not JSON: send a JSON object with Content-Type: application/json"
            ),
            status_code=400,
        )
    if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
        return JSONResponse(
            error_body("Request body is required: expected a JSON object (see /docs)"),
            status_code=400,
        )
    details = [
        {
            "code": str(error.get("type", "invalid")),
            "field": _location(tuple(error.get("loc", ()))),
            "message": str(error.get("msg", "is invalid")),
        }
        for error in errors
    ]
    shown = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
    more = f" (and {len(details) - 3} more)" if len(details) > 3 else ""
    return JSONResponse(
        error_body(f"Request validation failed: {shown}{more}", details), status_code=422
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = f"No route {request.method} {request.url.path}; see /docs for the API"
    elif exc.status_code == 405:
        allowed = _allowed_methods(request)
        message = f"Method {request.method} is not allowed on {request.url.path}" + (
            f"; allowed: {allowed}" if allowed else ""
        )
        return JSONResponse(error_body(message), status_code=405, headers={"Allow": allowed})
    else:
        message = str(exc.detail)
    return JSONResponse(error_body(message), status_code=exc.status_code, headers=exc.headers)


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the first):
    ask the router whether each method would match fully."""
    routes = request.app.router.routes
    allowed = []
    for method in _METHODS:
        scope = {"type": "http", "path": request.scope["path"], "root_path": "", "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in routes):
            allowed.append(method)
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
