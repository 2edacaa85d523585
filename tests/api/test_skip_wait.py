"""`POST /platform/v1/sandbox/conversations/{id}/skip_wait` (our extension, the console's
"skip the wait"): a sandbox conversation's pending timer (a wait_for_response timeout, a
send_text delay) fires now through the worker's path, over real HTTP with the worker
running; `seconds` fires only what is due within that span of when the timer was set;
nothing waiting is a 409, another project's conversation a 404 like a missing one, a
WhatsApp conversation a 422, a bad body a 422."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from convoflow.engine.advance import Advance
from convoflow.ids import new_id
from convoflow.services.process import Process
from convoflow.store import messages as message_store
from tests.api.conftest import new_project
from tests.api.helpers import P, start
from tests.support import chain, node


def delayed_reminder() -> dict[str, Any]:
    """A 30-second send delay, then a question that waits up to 2 hours."""
    return chain(
        node("start", "start"),
        node("hello", "send_text", message="Hello", delay_seconds=30),
        node("ask", "send_text", message="Your order number?"),
        node("wait", "wait_for_response", has_timeout=True, timeout_seconds=7200),
        node("bye", "send_text", message="Moving on."),
    )


async def _workflow(http: httpx.AsyncClient, definition: dict[str, Any]) -> str:
    body = {"workflow": {"name": "Reminder", "definition": definition}}
    workflow_id: str = (await http.post(f"{P}/workflows", json=body)).json()["data"]["id"]
    trigger = {"trigger": {"trigger_type": "api_call"}}
    assert (await http.post(f"{P}/workflows/{workflow_id}/triggers", json=trigger)).is_success
    activate = {"workflow": {"status": "active"}}
    assert (await http.patch(f"{P}/workflows/{workflow_id}", json=activate)).is_success
    return workflow_id


async def _bot_says(http: httpx.AsyncClient, conversation: str, count: int) -> list[str]:
    """The bot's texts once there are `count` (the worker sends them after the answer)."""
    texts: list[str] = []
    for _ in range(200):
        rows = (await http.get(f"{P}/sandbox/conversations/{conversation}/messages")).json()
        texts = [r["content"]["text"] for r in rows["data"] if r["direction"] == "outbound"]
        if len(texts) >= count:
            return texts
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} bot messages, got {texts}")


async def _skip(http: httpx.AsyncClient, conversation: str, **body: Any) -> httpx.Response:
    return await http.post(f"{P}/sandbox/conversations/{conversation}/skip_wait", json=body)


async def _started(http: httpx.AsyncClient) -> tuple[str, str]:
    """(execution id, sandbox conversation id) of a new run of `delayed_reminder`."""
    workflow_id = await _workflow(http, delayed_reminder())
    execution_id = str((await start(http, workflow_id))["id"])
    detail = (await http.get(f"{P}/workflow_executions/{execution_id}")).json()["data"]
    return execution_id, str(detail["whatsapp_conversation_id"])


async def _whatsapp_twin(engine: Process, conversation_id: str) -> str:
    """A WhatsApp conversation of the same project, stored beside the sandbox one."""

    async def insert(adv: Advance) -> str:
        row = dict(await message_store.get_conversation(adv.conn, conversation_id) or {})
        row.update(id=new_id(), channel="whatsapp", wa_id="15550002222")
        await message_store.insert_conversation(adv.conn, row)
        return str(row["id"])

    return await engine.runtime.op(insert)


async def test_skip_the_delay_then_the_timeout(live_server, engine):
    _, key = await new_project(engine, "skip")
    async with httpx.AsyncClient(
        base_url=live_server, headers={"X-API-Key": key}, timeout=30
    ) as http:
        execution_id, conversation = await _started(http)

        listed = await http.get(f"{P}/sandbox/conversations/{conversation}/timers")
        assert listed.status_code == 200, listed.text
        [delay] = listed.json()["data"]
        assert (delay["execution_id"], delay["purpose"]) == (execution_id, "delay")

        # No body: every pending timer fires (here the send delay).
        skipped = await http.post(f"{P}/sandbox/conversations/{conversation}/skip_wait")
        assert skipped.status_code == 200, skipped.text
        [fired] = skipped.json()["data"]["fired"]
        assert (fired["execution_id"], fired["purpose"]) == (execution_id, "delay")
        assert await _bot_says(http, conversation, 2) == ["Hello", "Your order number?"]

        # A span shorter than the timeout fires nothing, however long the caller took.
        short = await _skip(http, conversation, seconds=7199)
        assert short.status_code == 200, short.text
        assert short.json()["data"]["fired"] == []
        [pending] = short.json()["data"]["still_pending"]
        assert pending["purpose"] == "wait_timeout"

        full = await _skip(http, conversation, seconds=7200)
        assert [t["purpose"] for t in full.json()["data"]["fired"]] == ["wait_timeout"]
        assert (await _bot_says(http, conversation, 3))[-1] == "Moving on."
        ended = (await http.get(f"{P}/workflow_executions/{execution_id}")).json()["data"]
        assert ended["status"] == "ended"

        none = await http.get(f"{P}/sandbox/conversations/{conversation}/timers")
        assert none.json()["data"] == []
        nothing = await _skip(http, conversation)
        assert nothing.status_code == 409, nothing.text
        assert "waits on a timer" in nothing.json()["error"]

        for bad in ({"seconds": -1}, {"seconds": "soon"}, {"seconds": 0}):
            refused = await _skip(http, conversation, **bad)
            assert refused.status_code == 422, (bad, refused.text)


async def test_other_projects_and_whatsapp_conversations_are_refused(live_server, engine):
    _, key = await new_project(engine, "mine")
    _, other_key = await new_project(engine, "theirs")
    async with httpx.AsyncClient(
        base_url=live_server, headers={"X-API-Key": key}, timeout=30
    ) as http:
        _, conversation = await _started(http)
        whatsapp = await _whatsapp_twin(engine, conversation)

        refused = await _skip(http, whatsapp)
        assert refused.status_code == 422, refused.text
        assert "not the sandbox" in refused.json()["error"]
        missing = await _skip(http, "nope")
        assert missing.status_code == 404

    async with httpx.AsyncClient(
        base_url=live_server, headers={"X-API-Key": other_key}, timeout=30
    ) as other:
        theirs = await _skip(other, conversation)
        assert theirs.status_code == 404
        assert theirs.json()["error"] == missing.json()["error"].replace("nope", conversation)
        assert (await _skip(other, whatsapp)).status_code == 404
        timers = await other.get(f"{P}/sandbox/conversations/{conversation}/timers")
        assert timers.status_code == 404

    # Nothing fired for the other project: the delay still waits.
    async with httpx.AsyncClient(
        base_url=live_server, headers={"X-API-Key": key}, timeout=30
    ) as http:
        mine = await _skip(http, conversation)
        assert [t["purpose"] for t in mine.json()["data"]["fired"]] == ["delay"]
