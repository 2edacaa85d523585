"""End to end over real HTTP: uvicorn on a loopback port with its worker, on SQLite and
PostgreSQL. One scenario, as a client would drive it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from convoflow.clock import utc_iso
from tests.api.conftest import new_project
from tests.api.helpers import P, canonical

BATCHES = 5
PER_BATCH = 50
PEOPLE = 10


async def _start_all(http: httpx.AsyncClient, workflow_id: str, clock) -> list[str]:
    ids: list[str] = []
    for batch in range(BATCHES):
        bodies = [
            {
                "workflow_execution": {
                    "phone_number": f"+1555100{(batch * PER_BATCH + i) % PEOPLE:04d}",
                    "context": {"channel": "sandbox"},
                    "variables": {"n": batch * PER_BATCH + i},
                }
            }
            for i in range(PER_BATCH)
        ]
        responses = await asyncio.gather(
            *(http.post(f"{P}/workflows/{workflow_id}/executions", json=b) for b in bodies)
        )
        assert {r.status_code for r in responses} == {202}, responses[0].text
        ids.extend(r.json()["data"]["id"] for r in responses)
        clock.advance(60)
    return ids


async def _walk(http: httpx.AsyncClient, url: str, params: dict, key: str, cursor: str | None):
    """Follow paging[key] ("next" or "previous") from `cursor`; pages in visiting order."""
    pages = []
    direction = "after" if key == "next" else "before"
    while True:
        query = dict(params)
        if cursor:
            query[direction] = cursor
        body = (await http.get(url, params=query)).json()
        pages.append([e["id"] for e in body["data"]])
        cursor = body["paging"][key]
        if cursor is None:
            return pages, body


async def _count(http: httpx.AsyncClient, url: str, **params) -> int:
    total, cursor = 0, None
    while True:
        query = {"limit": 100, **params, **({"after": cursor} if cursor else {})}
        body = (await http.get(url, params=query)).json()
        total += len(body["data"])
        cursor = body["paging"]["next"]
        if cursor is None:
            return total


async def test_kapso_client_journey(live_server, engine, clock):
    _, key = await new_project(engine, "acme")
    t0 = clock.now()
    async with httpx.AsyncClient(
        base_url=live_server, headers={"X-API-Key": key}, timeout=60
    ) as http:
        created = await http.post(
            f"{P}/workflows", json={"workflow": {"name": "Age", "definition": canonical()}}
        )
        assert created.status_code == 201
        workflow_id = created.json()["data"]["id"]
        trigger = await http.post(
            f"{P}/workflows/{workflow_id}/triggers", json={"trigger": {"trigger_type": "api_call"}}
        )
        assert trigger.status_code == 201
        activated = await http.patch(
            f"{P}/workflows/{workflow_id}",
            json={"workflow": {"status": "active", "lock_version": 0}},
        )
        assert activated.status_code == 200 and activated.json()["data"]["lock_version"] == 1
        stale = await http.patch(
            f"{P}/workflows/{workflow_id}", json={"workflow": {"name": "X", "lock_version": 0}}
        )
        assert stale.status_code == 409

        ids = await _start_all(http, workflow_id, clock)
        first = (await http.get(f"{P}/workflow_executions/{ids[0]}")).json()["data"]
        assert first["status"] == "waiting"

        url = f"{P}/workflows/{workflow_id}/executions"
        for execution_id in ids[:10]:
            response = await http.post(
                f"{P}/workflow_executions/{execution_id}/resume", json={"message": {"data": "42"}}
            )
            assert response.status_code == 200 and response.json()["data"]["status"] == "ended"
        assert await _count(http, url, status="ended") == 10
        assert await _count(http, url, status="waiting") == 240
        assert await _count(http, url, waiting_reason="wait_for_response") == 240
        assert await _count(http, url, created_after=utc_iso(t0 + timedelta(seconds=180))) == 100
        assert await _count(http, url, created_before=utc_iso(t0 + timedelta(seconds=60))) == 100
        conversation = first["whatsapp_conversation_id"]
        assert await _count(http, url, whatsapp_conversation_id=conversation) == 25

        expected = sorted(ids, reverse=True)  # newest first; uuid7 ids sort by creation
        forward, last = await _walk(http, url, {"limit": 100}, "next", None)
        assert [len(page) for page in forward] == [100, 100, 50]
        assert [i for page in forward for i in page] == expected
        backward, _ = await _walk(http, url, {"limit": 100}, "previous", last["paging"]["previous"])
        assert [i for page in reversed(backward) for i in page] == expected[:200]
        odd, _ = await _walk(http, url, {"limit": 37}, "next", None)
        assert [i for page in odd for i in page] == expected

        detail = (await http.get(f"{P}/workflow_executions/{ids[0]}")).json()["data"]
        assert detail["status"] == "ended"
        assert detail["execution_context"]["vars"]["segment"] == "adult"
        events = await http.get(f"{P}/workflow_executions/{ids[0]}/events", params={"limit": 100})
        types = [e["event_type"] for e in events.json()["data"]]
        assert "user_input_received" in types and types[0] == "execution_ended"

        # Two resumes at once: exactly one is taken.
        target = ids[-1]
        both = await asyncio.gather(
            *(
                http.post(
                    f"{P}/workflow_executions/{target}/resume", json={"message": {"data": "30"}}
                )
                for _ in range(2)
            )
        )
        codes = sorted(r.status_code for r in both)
        assert codes.count(200) == 1 and set(codes) <= {200, 409, 422}, [r.text for r in both]

        _, other_key = await new_project(engine, "intruder")
        for path in (f"{P}/workflows/{workflow_id}", f"{P}/workflow_executions/{ids[1]}"):
            response = await http.get(path, headers={"X-API-Key": other_key})
            assert response.status_code == 404
        response = await http.post(
            f"{P}/workflow_executions/{ids[1]}/resume",
            json={"message": {"data": "42"}},
            headers={"X-API-Key": other_key},
        )
        assert response.status_code == 404
