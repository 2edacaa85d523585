"""Dates the databases cannot hold: `0001-01-01T00:00:00+14:00` is a valid ISO-8601
date-time whose UTC instant is in year 0. Every date filter of every list, and a cursor
carrying such a date, answers 422 naming the parameter (it used to be a 500 from an
OverflowError while binding the value). SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.api.helpers import P, execution, start, startable_workflow

EARLY = "0001-01-01T00:00:00+14:00"
LATE = "9999-12-31T23:59:59-14:00"


def _cursor(created_at: str, row_id: str = "x") -> str:
    payload = {"values": [created_at, row_id], "columns": ["created_at", "id"]}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _list_routes(spec: dict[str, Any]) -> list[tuple[str, list[str], list[str]]]:
    """(path, date-time parameters, cursor parameters) of every GET that has either."""
    routes = []
    for path, operations in spec["paths"].items():
        params = [p for p in operations.get("get", {}).get("parameters", []) if p["in"] == "query"]
        dates = [p["name"] for p in params if "date-time" in json.dumps(p["schema"])]
        cursors = [p["name"] for p in params if p["name"] in ("after", "before")]
        if dates or cursors:
            routes.append((path, dates, cursors))
    return routes


async def test_out_of_range_dates_are_422_on_every_list(client: httpx.AsyncClient) -> None:
    workflow = await startable_workflow(client)
    started = await start(client, workflow["id"])
    detail = await execution(client, started["id"])
    ids = {
        "workflow_id": workflow["id"],
        "flow_id": workflow["id"],
        "execution_id": started["id"],
        "conversation_id": detail["whatsapp_conversation_id"],
    }
    routes = _list_routes((await client.get("/openapi.json")).json())
    assert len(routes) >= 9  # the lists of both APIs that filter by date or page by cursor
    checked = 0
    for template, dates, cursors in routes:
        path = template.format(**ids)
        for name in dates:
            for value in (EARLY, LATE):
                response = await client.get(path, params={name: value})
                assert response.status_code == 422, (path, name, response.text)
                body = response.json()
                assert body["details"][0]["field"] == f"query.{name}", body
                assert "expected a date-time between 0001-01-01" in body["error"], body
                checked += 1
        for name in cursors:
            response = await client.get(path, params={name: _cursor(EARLY)})
            assert response.status_code == 422, (path, name, response.text)
            body = response.json()
            assert f"Invalid cursor in '{name}'" in body["error"], body
            assert body["details"][0]["field"] == f"query.{name}", body
            checked += 1
            # An id no database can be sent (a lone surrogate, which JSON can escape).
            for row_id in ("\ud800", "a\nb"):
                response = await client.get(
                    path, params={name: _cursor("2025-01-01T00:00:00Z", row_id)}
                )
                assert response.status_code == 400, (path, name, response.text)
                assert "its id is not an id" in response.json()["error"], response.text
    assert checked >= 30


async def test_dates_at_the_edges_of_the_range_still_filter(client: httpx.AsyncClient) -> None:
    """The earliest and latest instants UTC can hold are accepted, offsets included."""
    workflow = await startable_workflow(client)
    for value, expected in (("0001-01-01T00:00:00Z", 1), ("9999-12-31T23:59:59-00:00", 0)):
        response = await client.get(f"{P}/workflows", params={"created_after": value})
        assert response.status_code == 200, response.text
        assert len(response.json()["data"]) == expected
    page = await client.get(
        f"{P}/workflows/{workflow['id']}/executions", params={"after": _cursor(LATE[:19] + "Z")}
    )
    assert page.status_code == 200, page.text
