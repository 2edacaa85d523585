"""Request bodies of the functions API (Kapso's `function` and `secret` envelopes)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from convoflow.api.models import (
    Body,
    JsonList,
    JsonObject,
    LockVersion,
    Name,
    Text,
    Url,
    present,
    schema_rules,
)

FunctionType = Literal["cloudflare_worker", "supabase_function", "http"]
FunctionSlug = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[a-z0-9-]+$")]
# With its envelope the body must stay under the 1 MB API body limit (api/bodies.py), so
# that code one character too long is a 422 naming the field, as the schema says, and
# not a 413 for the body (schemathesis: "schema-violating request" answered 413).
Code = Annotated[str, Field(max_length=900_000)]
ResponseMode = Literal["wrapped", "passthrough"]


class FunctionCreateFields(Body):
    # An http function needs its endpoint_url (services/functions/project_functions.py).
    model_config = schema_rules(
        anyOf=[
            {"properties": {"function_type": {"not": {"const": "http"}}}},
            present("endpoint_url"),
        ]
    )

    name: Name
    slug: FunctionSlug | None = None
    description: Text | None = None
    code: Code | None = None
    # Omitted: "http" when endpoint_url is sent, else Kapso's default cloudflare_worker.
    function_type: FunctionType | None = None
    endpoint_url: Url | None = None
    public_endpoint: bool = False
    invoke_response_mode: ResponseMode = "passthrough"
    runtime_config: JsonObject = {}


class FunctionCreateBody(Body):
    function: FunctionCreateFields


class FunctionUpdateFields(Body):
    name: Name | None = None
    slug: FunctionSlug | None = None
    lock_version: LockVersion | None = None
    description: Text | None = None
    code: Code | None = None
    endpoint_url: Url | None = None
    invoke_response_mode: ResponseMode | None = None
    runtime_config: JsonObject | None = None
    public_endpoint: bool | None = None


class FunctionUpdateBody(Body):
    function: FunctionUpdateFields


class SecretFields(Body):
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Z0-9_]+$")]
    value: Annotated[str, Field(max_length=100_000)] | JsonObject | JsonList


class SecretCreateBody(Body):
    secret: SecretFields
