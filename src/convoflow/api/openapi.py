"""The OpenAPI document we serve at `/openapi.json`, kept true to what the routes return.

Error answers are declared here, once, from the shape of each route rather than copied
onto every decorator: a route that takes an API key can answer 401 and 429 (and 404 for
an object outside the caller's project), a route with a body 413/422, a route with
parameters 422, and every route 400 (NUL in the URL) and 503 (database unreachable).
Statuses only a few routes return (409, 403, 502) are declared on those routes with
`error_responses(...)`. Every error body is `#/components/schemas/Error`, the body
api/errors.py builds.

Success bodies: a route Kapso documents declares Kapso's schema for it (api/kapso_spec.py,
filled in here for every such route); a route of ours declares its model from
api/response_models.py on its decorator (`success(...)`), which also lets a Kapso route
say where we deliberately answer otherwise. tests/api/test_openapi_document.py fails on
an operation left without a success schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict

from convoflow.api import kapso_spec
from convoflow.api.auth import current_actor, optional_actor
from convoflow.api.kapso_spec import KapsoComponents
from convoflow.api.models import INT_LIMIT, NO_NUL, STORABLE_JSON_REF

ERROR_REF = "#/components/schemas/Error"
# The Meta proxy answers Meta's own error object when the Graph API refuses a send.
PROXY_ERROR_REF = "#/components/schemas/ProxyError"
PLATFORM_PREFIX = "/platform/v1"
# Routes Kapso does not have whose body is `{"data": <one of Kapso's components>}`.
KAPSO_DATA = {
    ("get", "/platform/v1/workflow_events/{event_id}"): (kapso_spec.WORKFLOWS, "WorkflowEvent"),
    ("post", "/platform/v1/whatsapp/messages"): (kapso_spec.PLATFORM, "WhatsappMessage"),
}
# Values we answer beyond the enums of Kapso's component schemas (docs/api.md, "Where
# convoflow differs from Kapso"): (component, property) -> extra values.
# Kapso declares a function's invoke answer as oneOf [any JSON, {"data": any JSON}]: a
# wrapped answer (and any object with a `data` key) matches both, which oneOf refuses.
# anyOf says what Kapso means.
KAPSO_ONE_OF_AS_ANY_OF = {("post", "/platform/v1/functions/{function_id}/invoke")}
KAPSO_ENUM_EXTENSIONS = {
    ("Function", "function_type"): ["http"],  # a function that is an HTTP endpoint of yours
}

_DESCRIPTIONS = {
    400: "Malformed request: NUL in the URL, a body that is not JSON (or missing), or a "
    "cursor we did not issue",
    401: "Missing or invalid API key",
    403: "Forbidden",
    404: "No such object in the caller's project",
    409: "Conflicts with the object's current state; re-read it and retry",
    413: "Request body too large",
    422: "The request is well-formed but invalid; `details` lists every problem",
    429: "Rate limit exceeded; `Retry-After` says when to retry",
    502: "An upstream service failed",
    503: "The database (or, connecting a WhatsApp number, the Graph API) is unavailable; "
    "retry later",
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str | None = None
    field: str | None = None
    message: str | None = None


class ErrorBody(BaseModel):
    """`{"error": "<what was expected>"}`, plus `details` for validation problems."""

    model_config = ConfigDict(extra="allow", title="Error")

    error: str
    details: list[ErrorDetail] | None = None


class MetaError(BaseModel):
    model_config = ConfigDict(extra="allow")

    message: str
    type: str
    code: int | None = None
    error_data: dict[str, Any] | None = None
    fbtrace_id: str | None = None


class MetaErrorBody(BaseModel):
    """The Graph API's error body, passed through by the Meta proxy."""

    model_config = ConfigDict(title="MetaErrorBody")

    error: MetaError


def error_responses(*codes: int, schema_ref: str = ERROR_REF) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for the given error statuses, with our error body."""
    return {
        code: {
            "description": _DESCRIPTIONS.get(code, "Error"),
            "content": {"application/json": {"schema": {"$ref": schema_ref}}},
        }
        for code in codes
    }


def success(model: Any, status_code: int = 200) -> dict[int | str, dict[str, Any]]:
    """`responses=` entry declaring a route's success body (a model of
    api/response_models.py, or a union of them)."""
    return {status_code: {"model": model}}


def _dependency_calls(route: Any) -> set[Callable[..., Any]]:
    calls: set[Callable[..., Any]] = set()
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if dependant.call is not None:
            calls.add(dependant.call)
        pending.extend(dependant.dependencies)
    return calls


def route_error_codes(route: Any) -> list[int]:
    """The error statuses a route (an APIRoute as included, prefix and all) can answer,
    from its dependencies and parameters."""
    # 400: the middleware refuses NUL characters in any URL; 503: every route reads the
    # database, and an unreachable one is answered 503 (api/errors.py).
    codes: set[int] = {400, 503}
    calls = _dependency_calls(route)
    if current_actor in calls:
        codes |= {401, 404, 429}
    if optional_actor in calls:
        codes |= {401, 429}
    dependant = route.dependant
    params = [*dependant.path_params, *dependant.query_params, *dependant.header_params]
    if dependant.path_params:
        codes.add(404)
    if params or route.body_field is not None:
        codes.add(422)
    if route.body_field is not None:
        codes.add(413)
    return sorted(codes)


def _storable_json() -> dict[str, Any]:
    """A JSON value the databases can store (api/models.check_json): no NUL characters,
    integers within 64 bits. Nesting depth is not expressible in JSON Schema."""
    return {
        "anyOf": [
            {"type": "string", "pattern": NO_NUL},
            {"type": "integer", "minimum": -INT_LIMIT, "maximum": INT_LIMIT - 1},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": {"$ref": STORABLE_JSON_REF}},
            {
                "type": "object",
                "propertyNames": {"pattern": NO_NUL},
                "additionalProperties": {"$ref": STORABLE_JSON_REF},
            },
        ]
    }


def _components(document: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorBody, MetaErrorBody):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[str(schema["title"])] = schema
    schemas["ProxyError"] = {
        "anyOf": [{"$ref": ERROR_REF}, {"$ref": "#/components/schemas/MetaErrorBody"}]
    }
    schemas["StorableJson"] = _storable_json()
    # FastAPI's default 422 body is never sent: api/errors.py answers with Error.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return schemas


def api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route as served (FastAPI keeps included routers as contexts)."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            yield context


def _declare_errors(document: dict[str, Any], routes: Iterable[Any]) -> None:
    for route in routes:
        operations = document["paths"].get(route.path_format, {})
        for method in route.methods:
            operation = operations.get(method.lower())
            if operation is None:
                continue
            responses: dict[str, Any] = operation["responses"]
            for code, response in error_responses(*route_error_codes(route)).items():
                responses.setdefault(str(code), response)
            # FastAPI's own 422 (HTTPValidationError) is replaced by ours.
            if "HTTPValidationError" in str(responses.get("422")):
                responses["422"] = error_responses(422)[422]


def install_openapi(app: FastAPI) -> None:
    """Serve the document built by `build_openapi` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    _components(document)
    _declare_errors(document, api_routes(app))
    _declare_kapso_success(document)
    return document


def _kapso_success_schema(
    components: KapsoComponents, method: str, path: str
) -> dict[str, Any] | None:
    if (method, path) in KAPSO_DATA:
        spec, name = KAPSO_DATA[method, path]
        return {
            "type": "object",
            "required": ["data"],
            "properties": {"data": components.ref(spec, name)},
        }
    if not path.startswith(PLATFORM_PREFIX):
        return None
    found = kapso_spec.success_response(method, path.removeprefix(PLATFORM_PREFIX))
    if found is None:
        return None
    spec, response = found
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    adopted: dict[str, Any] = components.adopt(spec, schema)
    if (method, path) in KAPSO_ONE_OF_AS_ANY_OF:
        adopted["anyOf"] = adopted.pop("oneOf")
    return adopted


def _declare_kapso_success(document: dict[str, Any]) -> None:
    """Kapso's success schema on each JSON success response still declared as any JSON
    (`{}`): the ones a decorator declared (`success`) are ours and stay."""
    components = KapsoComponents(document["components"]["schemas"])
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json")
                if not status.startswith("2") or content is None or content.get("schema"):
                    continue
                schema = _kapso_success_schema(components, method, path)
                if schema is not None:
                    content["schema"] = schema
    schemas = document["components"]["schemas"]
    for (component, name), extra in KAPSO_ENUM_EXTENSIONS.items():
        if component in schemas:
            values = schemas[component]["properties"][name]["enum"]
            values.extend(value for value in extra if value not in values)
