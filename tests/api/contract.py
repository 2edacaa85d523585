"""Validate response bodies against the component schemas of Kapso's OpenAPI files."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "kapso-openapi"
WORKFLOWS = "openapi-workflows.yaml"
PLATFORM = "openapi-platform.yaml"


@cache
def _document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SPEC_DIR / name).read_text())
    return loaded


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


def problems(body: Any, schema: str, spec: str = WORKFLOWS) -> list[str]:
    found = validator(schema, spec).iter_errors(body)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def assert_matches(body: Any, schema: str, spec: str = WORKFLOWS) -> None:
    errors = problems(body, schema, spec)
    assert not errors, f"response does not match Kapso's {schema}:\n" + "\n".join(errors)


def assert_error(body: Any) -> None:
    assert_matches(body, "ErrorResponse")
    assert isinstance(body["error"], str) and body["error"]
