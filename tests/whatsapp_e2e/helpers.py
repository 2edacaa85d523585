"""Flows and small readers shared by the end-to-end WhatsApp tests."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.api.conftest import new_project
from tests.api.helpers import create_workflow
from tests.support import chain, edge, node, table_rows
from tests.whatsapp_e2e.conftest import NUMBER, P, World, add_number

THEIR_NUMBER = "100000000000888"
THEIR_SECRET = "hostile-app-secret"


@asynccontextmanager
async def other_tenant(world: World, numbers: tuple[str, ...] = ()) -> AsyncIterator[World]:
    """A second project on the same server, with its own key, numbers and app secret."""
    project_id, key = await new_project(world.engine, "hostile", allow_private_network=True)
    for number in numbers:
        await add_number(world.engine, project_id, phone_number_id=number, app_secret=THEIR_SECRET)
    headers = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=world.url, headers=headers, timeout=30) as api:
        yield dataclasses.replace(world, api=api, project_id=project_id, key=key)


async def inbound_flow(
    world: World,
    definition: dict[str, Any],
    *,
    name: str = "Inbound",
    trigger: dict[str, Any] | None = None,
    **settings: Any,
) -> str:
    """An active workflow started by messages to NUMBER (inbound_message trigger), or by
    the given trigger."""
    return await activate_inbound(world.api, definition, name=name, trigger=trigger, **settings)


async def activate_inbound(
    api: httpx.AsyncClient,
    definition: dict[str, Any],
    *,
    name: str = "Inbound",
    trigger: dict[str, Any] | None = None,
    **settings: Any,
) -> str:
    """`inbound_flow` through any client holding the project's key."""
    workflow = await create_workflow(api, name, definition)
    trigger = {"trigger": trigger or {"trigger_type": "inbound_message", "phone_number_id": NUMBER}}
    response = await api.post(f"{P}/workflows/{workflow['id']}/triggers", json=trigger)
    assert response.status_code == 201, response.text
    changes = {"status": "active", **settings}
    response = await api.patch(f"{P}/workflows/{workflow['id']}", json={"workflow": changes})
    assert response.status_code == 200, response.text
    return str(workflow["id"])


def echo_loop() -> dict[str, Any]:
    """start -> "ready" -> wait -> "got: <input>" -> back to the wait, forever."""
    definition = chain(
        node("start", "start"),
        node("hello", "send_text", message="ready"),
        node("wait", "wait_for_response"),
        node("echo", "send_text", message="got: {{vars.last_user_input}}"),
    )
    definition["edges"].append(edge("echo", "wait"))
    return definition


async def rows(world: World, table: Any, **where: Any) -> list[dict[str, Any]]:
    return await table_rows(world.engine, table, **where)


def sent_texts(world: World, to: str | None = None) -> list[str]:
    return [
        str(r["body"]["text"]["body"])
        for r in world.fake.records(kind="message", to=to, type="text")
        if r["http_status"] == 200
    ]


def echo_start() -> dict[str, Any]:
    """start -> "got: <input>" -> wait -> back to the echo: one send per input."""
    definition = chain(
        node("start", "start"),
        node("echo", "send_text", message="got: {{vars.last_user_input}}"),
        node("wait", "wait_for_response"),
    )
    definition["edges"].append(edge("wait", "echo"))
    return definition


async def executions_of(world: World, wa_id: str) -> list[dict[str, Any]]:
    from convoflow.store.schema import conversations, executions

    found: list[dict[str, Any]] = []
    for conversation in await rows(world, conversations, wa_id=wa_id):
        found += await rows(world, executions, conversation_id=conversation["id"])
    return found


async def input_message_ids(world: World, execution_id: str) -> list[str]:
    """Every wamid the execution took as input, in the order it took them."""
    from tests.support import events

    taken: list[str] = []
    for event in await events(world.engine, execution_id):
        if event["event_type"] == "user_input_received":
            taken += event["payload"]["message_ids"]
    return taken
