"""/platform/v1/functions: CRUD, deploy, invoke, secrets, invocation log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fastapi import Depends, Query, Request, Response

from convoflow.api.auth import CurrentActor, EngineDep, optional_actor
from convoflow.api.bodies import api_router, json_body
from convoflow.api.errors import ApiError
from convoflow.api.function_models import (
    FunctionCreateBody,
    FunctionUpdateBody,
    SecretCreateBody,
)
from convoflow.api.models import check_json
from convoflow.api.openapi import error_responses
from convoflow.api.responses import data, no_content, ok
from convoflow.clock import utc_iso
from convoflow.services.common import Actor
from convoflow.services.functions import project_functions as functions
from convoflow.services.functions.project_functions import FunctionFields

router = api_router(tags=["Functions"])


def function_view(row: Mapping[Any, Any], request: Request) -> dict[str, Any]:
    endpoint = row["endpoint_url"]
    if row["function_type"] != functions.HTTP:
        endpoint = str(request.url_for("invoke_function", function_id=row["id"]))
    return {
        "id": row["id"],
        "name": row["name"],
        "slug": row["slug"],
        "lock_version": row["lock_version"],
        "description": row["description"],
        "code": row["code"] or "",
        "version": row["version"],
        "status": row["status"],
        "last_deployed_at": utc_iso(row["last_deployed_at"]),
        "function_type": row["function_type"],
        "invoke_response_mode": row["invoke_response_mode"],
        "public_endpoint": bool(row["public_endpoint"]),
        "runtime_config": row["runtime_config"] or {},
        "endpoint_url": endpoint,
        "project_id": row["project_id"],
        "created_by_id": row["created_by_id"],
        "created_at": utc_iso(row["created_at"]),
        "updated_at": utc_iso(row["updated_at"]),
    }


def _fields(values: Any) -> FunctionFields:
    fields = FunctionFields()
    for name in values.model_fields_set:
        if hasattr(fields, name) and getattr(values, name) is not None:
            setattr(fields, name, getattr(values, name))
    if "lock_version" in values.model_fields_set:
        fields.lock_version = values.lock_version
    return fields


@router.get("/functions", summary="List functions")
async def list_functions(request: Request, actor: CurrentActor, engine: EngineDep) -> Response:
    rows = await functions.list_functions(engine, actor)
    return data([function_view(row, request) for row in rows])


@router.post("/functions", status_code=201, summary="Create function (draft)")
async def create_function(
    body: FunctionCreateBody, request: Request, actor: CurrentActor, engine: EngineDep
) -> Response:
    fields = _fields(body.function)
    for name in ("public_endpoint", "invoke_response_mode", "runtime_config"):
        setattr(fields, name, getattr(body.function, name))
    row = await functions.create(engine, actor, fields)
    return data(function_view(row, request), status_code=201)


@router.get("/functions/{function_id}", summary="Retrieve function")
async def get_function(
    function_id: str, request: Request, actor: CurrentActor, engine: EngineDep
) -> Response:
    return data(function_view(await functions.get_function(engine, actor, function_id), request))


@router.patch("/functions/{function_id}", summary="Update function", responses=error_responses(409))
async def update_function(
    function_id: str,
    body: FunctionUpdateBody,
    request: Request,
    actor: CurrentActor,
    engine: EngineDep,
) -> Response:
    row = await functions.update(engine, actor, function_id, _fields(body.function))
    return data(function_view(row, request))


@router.delete("/functions/{function_id}", status_code=204, summary="Delete function")
async def delete_function(function_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    await functions.delete(engine, actor, function_id)
    return no_content()


@router.post("/functions/{function_id}/deploy", status_code=202, summary="Deploy function")
async def deploy_function(function_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    row = await functions.deploy(engine, actor, function_id)
    body = {
        "message": "Function deployment initiated",
        "function_id": row["id"],
        "status": row["status"],
    }
    return ok(body, status_code=202)


@router.post(
    "/functions/{function_id}/invoke",
    name="invoke_function",
    summary="Invoke",
    # The body is read by hand (any JSON), so its errors are declared here. In
    # passthrough mode the function's own status, content type and body come back.
    responses={
        **error_responses(400, 413, 502),
        200: {"content": {"*/*": {"schema": {}}}},
        "default": {
            "description": "passthrough mode: the function's own answer",
            "content": {"*/*": {"schema": {}}},
        },
    },
)
async def invoke_function(
    function_id: str,
    request: Request,
    engine: EngineDep,
    actor: Actor | None = Depends(optional_actor),
) -> Response:
    # The body's size is limited while it is read (api/bodies.py); an empty one is {}.
    payload = await json_body(request) if await request.body() else {}
    try:
        check_json(payload)
    except ValueError as exc:
        raise ApiError(400, f"Invalid JSON in request: {exc}") from None
    row, result = await functions.invoke(engine, function_id, actor, payload)
    if not result.ok:
        # Kapso answers 500 here; the failure is the function's, not ours, so 502.
        raise ApiError(
            502,
            "Function execution failed",
            extra={"detail": result.error or "", "invocation_id": result.id},
        )
    if row["invoke_response_mode"] == "wrapped":
        return ok({"data": result.parsed})
    return Response(
        content=result.body, status_code=result.status_code, media_type=result.content_type
    )


@router.get("/functions/{function_id}/secrets", summary="List function secrets")
async def list_secrets(function_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    return data(await functions.list_secrets(engine, actor, function_id))


@router.post("/functions/{function_id}/secrets", status_code=201, summary="Create secret")
async def create_secret(
    function_id: str, body: SecretCreateBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    await functions.set_secret(engine, actor, function_id, body.secret.name, body.secret.value)
    return ok({"message": "Secret created successfully"}, status_code=201)


@router.delete(
    "/functions/{function_id}/secrets/{secret_name}", status_code=204, summary="Delete secret"
)
async def delete_secret(
    function_id: str, secret_name: str, actor: CurrentActor, engine: EngineDep
) -> Response:
    await functions.delete_secret(engine, actor, function_id, secret_name)
    return no_content()


@router.get("/functions/{function_id}/invocations", summary="List recent invocations")
async def list_invocations(
    function_id: str,
    actor: CurrentActor,
    engine: EngineDep,
    status: Literal["success", "failed"] | None = None,
    limit: int = Query(10, ge=1, le=20),
) -> Response:
    row, rows = await functions.invocations(engine, actor, function_id, status, limit)
    invocations = [
        {
            "id": item["id"],
            "status_code": item["status_code"] or 0,
            "duration_ms": item["duration_ms"],
            "request_body": _object(item["request_body"]),
            "response_body": _object(item["response_body"]),
            "error_message": item["error_message"],
            "created_at": utc_iso(item["created_at"]),
            "console_logs": item["console_logs"] or [],
        }
        for item in rows
    ]
    return data(
        {
            "function_id": row["id"],
            "function_name": row["name"],
            "invocations": invocations,
            "total": len(invocations),
        }
    )


def _object(value: Any) -> dict[str, Any] | None:
    """Kapso's schema types bodies as objects; other JSON values are wrapped."""
    if value is None or isinstance(value, dict):
        return value
    return {"value": value}
