"""Kapso's own Python SDK (`kapso==0.4.0`, the legacy flows client) against a live server:
list, create, get with definition and update flows, unchanged."""

from __future__ import annotations

import asyncio

from kapso.cli.services import api_service

from tests.api.conftest import new_project
from tests.api.helpers import canonical


def _drive_sdk(base_url: str) -> dict:
    service = api_service.ApiService(api_url=f"{base_url}/api/v1")
    assert service.list_flows() == {"data": []}
    created = service.create_flow(
        {"name": "SDK flow", "description": "made by kapso 0.4.0", "definition": canonical()}
    )["data"]
    listed = service.list_flows()["data"]
    fetched = service.get_flow(created["id"])["data"]
    with_definition = service.get_flow_with_definition(created["id"])["data"]
    updated = service.update_flow(created["id"], {"description": "updated by the SDK"})["data"]
    return {
        "created": created,
        "listed": listed,
        "fetched": fetched,
        "definition": with_definition,
        "updated": updated,
    }


async def test_kapso_sdk_manages_flows(live_server, engine, monkeypatch, tmp_path):
    _, key = await new_project(engine, "sdk")
    # The SDK reads the key from KAPSO_API_KEY and keeps state under ~/.kapso.
    monkeypatch.setenv("KAPSO_API_KEY", key)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = await asyncio.to_thread(_drive_sdk, live_server)
    created = result["created"]
    assert created["name"] == "SDK flow" and created["status"] == "draft"
    assert [flow["id"] for flow in result["listed"]] == [created["id"]]
    assert result["fetched"]["id"] == created["id"]
    nodes = result["definition"]["definition"]["nodes"]
    assert {node["id"] for node in nodes} == {node["id"] for node in canonical()["nodes"]}
    assert result["updated"]["description"] == "updated by the SDK"
