"""Kapso's published OpenAPI documents (`kapso_openapi/`, shipped with the package, never
edited) and what our `/openapi.json` takes from them: the success body of each route
Kapso documents, with the component schemas it refers to.

Kapso's clients are generated from these documents, so a route of ours that Kapso also
has declares Kapso's schema, not one of our own making; where we deliberately answer
differently, `api/openapi.py` says so on top of it (docs/api.md lists each difference).
The contract tests (tests/api/contract.py) validate against the same files.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

SPEC_DIR = Path(__file__).with_name("kapso_openapi")
WORKFLOWS = "openapi-workflows.yaml"
PLATFORM = "openapi-platform.yaml"
# Looked up in this order; a component name both use (Paging, ErrorResponse, ...) keeps
# its name for the first and is prefixed for the second, as the two differ.
SPECS = (WORKFLOWS, PLATFORM)
NAME_PREFIX = {WORKFLOWS: "Kapso", PLATFORM: "KapsoPlatform"}
COMPONENT = "#/components/schemas/"

# Our routes whose Kapso counterpart lives at another path (Kapso connects numbers under
# a customer; convoflow has no customers).
ALIASES = {
    ("post", "/whatsapp/phone_numbers"): "/customers/{customer_id}/whatsapp/phone_numbers",
}


@cache
def document(name: str) -> dict[str, Any]:
    """One of Kapso's documents, read as its authors meant (`nullable`, below)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster
    loaded: dict[str, Any] = yaml.load((SPEC_DIR / name).read_text(), Loader=loader)
    nullable(loaded)
    return loaded


def nullable(node: Any) -> None:
    """Kapso's platform spec is OpenAPI 3.1 but marks some fields with 3.0's
    `nullable: true`, which JSON Schema 2020-12 ignores; its own examples show null
    there (paging.next), so read it as its authors meant: the type or null."""
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        for value in node.values():
            nullable(value)
    elif isinstance(node, list):
        for value in node:
            nullable(value)


def success_response(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """(spec, Kapso's success response) for our route `method path` (path without
    /platform/v1), or None when Kapso does not document it."""
    method = method.lower()
    kapso_path = ALIASES.get((method, path), path)
    for spec in SPECS:
        operation = document(spec)["paths"].get(kapso_path, {}).get(method)
        if operation is None:
            continue
        for status, response in operation["responses"].items():
            if str(status).startswith("2"):
                return spec, response
    return None


class KapsoComponents:
    """Copies Kapso's component schemas into our document's `components/schemas` as they
    are needed, rewriting their references."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas
        self._names: dict[tuple[str, str], str] = {}

    def adopt(self, spec: str, node: Any) -> Any:
        """A copy of `node` (a schema from `spec`) whose references name our components."""
        if isinstance(node, list):
            return [self.adopt(spec, value) for value in node]
        if not isinstance(node, dict):
            return node
        copied = {key: self.adopt(spec, value) for key, value in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(COMPONENT):
            copied["$ref"] = COMPONENT + self.name(spec, ref.removeprefix(COMPONENT))
        return copied

    def name(self, spec: str, kapso_name: str) -> str:
        """Our name for Kapso's component `kapso_name` of `spec`, importing it once."""
        key = (spec, kapso_name)
        if key not in self._names:
            ours = kapso_name
            if ours in self.schemas:
                ours = NAME_PREFIX[spec] + kapso_name
            self._names[key] = ours
            self.schemas[ours] = {}  # reserved first: schemas may refer to themselves
            source = document(spec)["components"]["schemas"][kapso_name]
            self.schemas[ours] = self.adopt(spec, source)
        return self._names[key]

    def ref(self, spec: str, kapso_name: str) -> dict[str, str]:
        return {"$ref": COMPONENT + self.name(spec, kapso_name)}
