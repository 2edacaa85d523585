"""Validate response bodies against the component schemas of Kapso's OpenAPI files."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from convoflow.api import kapso_spec

WORKFLOWS = kapso_spec.WORKFLOWS
PLATFORM = kapso_spec.PLATFORM
# The package ships Kapso's documents (src/convoflow/api/kapso_openapi): /openapi.json
# borrows its success schemas from them, and these tests validate against the same files.
_document = kapso_spec.document


def _registry(name: str, document: dict[str, Any]) -> Registry:
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    return Registry().with_resource(f"urn:kapso:{name}", resource)


@cache
def validator(schema: str, spec: str = WORKFLOWS) -> Draft202012Validator:
    document = _document(spec)
    return Draft202012Validator(
        {"$ref": f"urn:kapso:{spec}#/components/schemas/{schema}"},
        registry=_registry(spec, document),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


@cache
def extended_validator(schema: str, path: tuple[str, ...], extra: str) -> Draft202012Validator:
    """`schema` with one enum widened by `extra`: our documented extensions (docs/api.md),
    e.g. function_type "http"."""
    document = copy.deepcopy(_document(WORKFLOWS))
    node: Any = document["components"]["schemas"]
    for key in path:
        node = node[key]
    node["enum"] = [*node["enum"], extra]
    return Draft202012Validator(
        {"$ref": f"urn:kapso:{WORKFLOWS}#/components/schemas/{schema}"},
        registry=_registry(WORKFLOWS, document),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


@cache
def operation_validator(method: str, path: str, status: int, spec: str) -> Draft202012Validator:
    """The JSON body schema Kapso's `spec` documents for `method path` answering `status`."""
    document = _document(spec)
    assert str(status) in document["paths"][path][method.lower()]["responses"], (method, path)

    def escape(part: str) -> str:
        return part.replace("~", "~0").replace("/", "~1")

    pointer = "/".join(
        escape(part)
        for part in ("paths", path, method.lower(), "responses", str(status), "content")
    )
    return Draft202012Validator(
        {"$ref": f"urn:kapso:{spec}#/{pointer}/application~1json/schema"},
        registry=_registry(spec, document),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def assert_operation(
    body: Any, method: str, path: str, status: int = 200, spec: str = PLATFORM
) -> None:
    """`body` matches what Kapso documents for `method path` (path as in Kapso's spec,
    without /platform/v1)."""
    found = operation_validator(method, path, status, spec).iter_errors(body)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]
    assert not errors, f"{method} {path} does not match Kapso's {spec}:\n" + "\n".join(errors)


def problems(body: Any, schema: str, spec: str = WORKFLOWS) -> list[str]:
    found = validator(schema, spec).iter_errors(body)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def assert_matches(body: Any, schema: str, spec: str = WORKFLOWS) -> None:
    errors = problems(body, schema, spec)
    assert not errors, f"response does not match Kapso's {schema}:\n" + "\n".join(errors)


def assert_error(body: Any) -> None:
    assert_matches(body, "ErrorResponse")
    assert isinstance(body["error"], str) and body["error"]
