"""The served /openapi.json, read as a client generator would: every error a route can
answer is declared with our Error body, no JSON body is declared as a string, FastAPI's
own 422 body (never sent) is gone, and Kapso's documented filter values are the enums.
(tests/api/test_schemathesis.py checks the document against a live server.)"""

from __future__ import annotations

from typing import Any

import httpx

ERROR = {"$ref": "#/components/schemas/Error"}


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
