"""The served /openapi.json, read as a client generator would: every error a route can
answer is declared with our Error body, no JSON body is declared as a string, FastAPI's
own 422 body (never sent) is gone, every success declares its body (Kapso's schema for
Kapso's routes), and Kapso's documented filter values are the enums.
(tests/api/test_schemathesis.py checks the document against a live server.)"""

from __future__ import annotations

from typing import Any

import httpx

from convoflow.api import kapso_spec
from convoflow.api.bodies import API_BODY_BYTES

ERROR = {"$ref": "#/components/schemas/Error"}
COMPONENT = "#/components/schemas/"
# An invoke answers the function's own body: any JSON (Kapso's schema says so), or in
# passthrough mode any content type.
INVOKE = "/platform/v1/functions/{function_id}/invoke"
ANY_BODY = {("POST", INVOKE, "*/*"), ("POST", INVOKE, "application/json")}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


async def test_every_error_is_declared_with_our_body(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        label = f"{method} {path}"
        assert "400" in responses, f"{label}: NUL in any URL is a 400"
        if operation.get("security"):
            for status in ("401", "404", "429"):
                assert status in responses, f"{label} does not declare {status}"
        if "requestBody" in operation:
            for status in ("413", "422"):
                assert status in responses, f"{label} does not declare {status}"
        for status, response in responses.items():
            for media, content in (response.get("content") or {}).items():
                schema = content.get("schema")
                if media == "application/json":
                    assert schema != {"type": "string"}, f"{label} {status} says string"
                if status.startswith("4") and media == "application/json":
                    assert schema in (ERROR, {"$ref": "#/components/schemas/ProxyError"}), (
                        f"{label} {status}: {schema}"
                    )


async def test_live_streams_declare_their_cap_with_retry_after(client: httpx.AsyncClient) -> None:
    """A key past its cap of open streams gets a 429 with Retry-After before the stream
    opens (api/routes/streams.py): declared as such, not only as the rate limit."""
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"].items()
    streams = [(path, item["get"]) for path, item in paths if path.endswith("/events/stream")]
    assert len(streams) == 4
    for path, operation in streams:
        declared = operation["responses"]["429"]
        assert declared["content"]["application/json"]["schema"] == ERROR, path
        assert "CONVOFLOW_MAX_STREAMS_PER_KEY" in declared["description"], path
        assert "CONVOFLOW_MAX_STREAMS_PER_PROJECT" in declared["description"], path
        assert declared["headers"]["Retry-After"]["schema"] == {"type": "integer"}, path


async def test_kapsos_filter_values_are_the_enums(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    def status_eq(path: str) -> list[str]:
        (param,) = [
            p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "q[status_eq]"
        ]
        schema = param["schema"]
        options = schema.get("anyOf", [schema])
        return [value for option in options for value in option.get("enum", [])]

    assert status_eq("/api/v1/flows") == ["draft", "active", "archived"]
    assert {"0", "1", "2", "3"} <= set(status_eq("/api/v1/flows/{flow_id}/executions"))
    for value in ("active", "0"):
        path = "/api/v1/flows" if value == "active" else "/api/v1/flows/none/executions"
        response = await client.get(path, params={"q[status_eq]": value})
        assert response.status_code in (200, 404), response.text


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _describes_a_body(schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """An object with named properties, or a choice of such (not `{}`: any JSON)."""
    if "$ref" in schema:
        return _describes_a_body(schemas[schema["$ref"].removeprefix(COMPONENT)], schemas)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return all(_describes_a_body(option, schemas) for option in options)
    return schema.get("type") == "object" and bool(schema.get("properties"))


async def test_every_success_declares_its_body(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.removeprefix(COMPONENT) in schemas, f"dangling {ref}"
    for method, path, operation in _operations(document):
        label = f"{method} {path}"
        successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert successes, f"{label} declares no success"
        for status, response in successes.items():
            content = response.get("content") or {}
            if status == "204":
                assert not content, f"{label} 204 declares a body"
                continue
            assert content, f"{label} {status} declares no body"
            for media, body in content.items():
                if (method, path, media) in ANY_BODY:
                    continue
                schema = body.get("schema") or {}
                # A live stream (server-sent events) is text that never ends.
                if media in ("text/plain", "text/event-stream"):
                    assert schema == {"type": "string"}, f"{label} {status} {media}: {schema}"
                    continue
                assert _describes_a_body(schema, schemas), f"{label} {status} {media}: {schema}"


async def test_kapsos_routes_declare_kapsos_schemas(client: httpx.AsyncClient) -> None:
    """A client generated from Kapso's spec and one generated from ours agree on bodies."""
    document = (await client.get("/openapi.json")).json()
    checked = 0
    for method, path, operation in _operations(document):
        if not path.startswith("/platform/v1/"):
            continue
        found = kapso_spec.success_response(method, path.removeprefix("/platform/v1"))
        if found is None:
            continue
        kapso = found[1].get("content", {}).get("application/json", {}).get("schema")
        if kapso is None or "$ref" not in kapso:
            continue
        (status,) = [s for s in operation["responses"] if s.startswith("2") and s != "204"][:1]
        ours = operation["responses"][status]["content"]["application/json"]["schema"]
        assert ours == kapso, f"{method} {path}: {ours} is not Kapso's {kapso}"
        checked += 1
    assert checked >= 40, f"only {checked} of Kapso's routes found"


def _max_lengths(schema: Any, components: dict[str, Any], seen: set[str]) -> list[int]:
    """Every maxLength in a request schema, through $refs (each component once)."""
    if isinstance(schema, list):
        return [n for item in schema for n in _max_lengths(item, components, seen)]
    if not isinstance(schema, dict):
        return []
    found = [schema["maxLength"]] if isinstance(schema.get("maxLength"), int) else []
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(COMPONENT) and ref not in seen:
        seen.add(ref)
        found += _max_lengths(components[ref.removeprefix(COMPONENT)], components, seen)
    return found + [n for value in schema.values() for n in _max_lengths(value, components, seen)]


async def test_a_string_too_long_for_its_schema_fits_in_the_body_limit(
    client: httpx.AsyncClient,
) -> None:
    """A field one character over its maxLength must reach the validator (422 naming the
    field): a maxLength the body limit cuts off first answers 413, which the document
    does not promise for schema violations (a function's `code` allowed 1,000,000
    characters in a 1 MB body)."""
    document = (await client.get("/openapi.json")).json()
    components = document["components"]["schemas"]
    longest = {}
    for method, path, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        lengths = _max_lengths(schema, components, set())
        if lengths:
            longest[f"{method} {path}"] = max(lengths)
    limit = API_BODY_BYTES - 50_000  # room for the envelope and the other fields
    over = {label: n for label, n in longest.items() if n > limit}
    assert longest and over == {}, over
