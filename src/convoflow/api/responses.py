"""Small response helpers: bodies are built by api/views and serialised with orjson.

Routes return Response objects directly, so FastAPI skips its generic encoder: the views
already hold only JSON types (timestamps are formatted by views)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response
from fastapi.responses import JSONResponse


class JSONBody(JSONResponse):
    # A JSONResponse, so OpenAPI documents our bodies as JSON (a plain Response is
    # documented as `type: string`).

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def ok(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONBody(body, status_code=status_code, headers=headers)


def data(value: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Kapso's success envelope `{"data": ...}`."""
    return JSONBody({"data": value}, status_code=status_code, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)
