"""`/platform/v1/sandbox/conversations/{id}/messages` (our extension, the console's test
chat): read a sandbox conversation and speak as its user, over real HTTP with the worker;
a button's title answers the last interactive message; other projects' conversations
answer 404 like missing ones."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.conftest import new_project
from tests.api.helpers import P, start_body
from tests.support import example


async def _transcript(http: httpx.AsyncClient, conversation: str) -> list[dict[str, Any]]:
    response = await http.get(f"{P}/sandbox/conversations/{conversation}/messages")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


async def test_chat_with_a_menu_by_its_button(live_server, engine, clock):
    _, key = await new_project(engine, "chat")
    _, other_key = await new_project(engine, "other")
    async with httpx.AsyncClient(
        base_url=live_server, headers={"X-API-Key": key}, timeout=30
    ) as http:
        menu = {"name": "Menu", "definition": example("menu")}
        created = await http.post(f"{P}/workflows", json={"workflow": menu})
        workflow_id = created.json()["data"]["id"]
        trigger = {"trigger": {"trigger_type": "api_call"}}
        assert (await http.post(f"{P}/workflows/{workflow_id}/triggers", json=trigger)).is_success
        activate = {"workflow": {"status": "active"}}
        assert (await http.patch(f"{P}/workflows/{workflow_id}", json=activate)).is_success
        started = await http.post(f"{P}/workflows/{workflow_id}/executions", json=start_body())
        execution_id = started.json()["data"]["id"]
        detail = (await http.get(f"{P}/workflow_executions/{execution_id}")).json()["data"]
        conversation = detail["whatsapp_conversation_id"]

        [menu_message] = await _transcript(http, conversation)
        assert menu_message["direction"] == "outbound"
        buttons = menu_message["content"]["interactive"]["buttons"]
        assert [b["title"] for b in buttons][2] == "Opening hours"

        said = await http.post(
            f"{P}/sandbox/conversations/{conversation}/messages", json={"text": "Opening hours"}
        )
        assert said.status_code == 202, said.text
        for _ in range(200):
            clock.advance(5)  # past the debounce window
            rows = await _transcript(http, conversation)
            if len(rows) == 3:
                break
            await asyncio.sleep(0.05)
        user, answer = rows[1], rows[2]
        assert user["direction"] == "inbound"
        assert user["content"]["interactive_type"] == "button_reply"
        assert user["content"]["id"] == "hours"
        assert answer["content"]["text"].startswith("We're open Monday to Friday")

        empty = await http.post(f"{P}/sandbox/conversations/{conversation}/messages", json={})
        assert empty.status_code == 422
        missing = await http.get(f"{P}/sandbox/conversations/nope/messages")
        assert missing.status_code == 404

    async with httpx.AsyncClient(
        base_url=live_server, headers={"X-API-Key": other_key}, timeout=30
    ) as other:
        response = await other.get(f"{P}/sandbox/conversations/{conversation}/messages")
        assert response.status_code == 404
        assert response.json()["error"] == missing.json()["error"].replace("nope", conversation)
        said = await other.post(
            f"{P}/sandbox/conversations/{conversation}/messages", json={"text": "hi"}
        )
        assert said.status_code == 404
