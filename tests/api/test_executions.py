"""Executions: start, read, list, events, status changes and resume, against Kapso's schemas."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.contract import assert_error, assert_matches
from tests.api.helpers import (
    P,
    create_workflow,
    execution,
    resume,
    start,
    start_body,
    startable_workflow,
)
from tests.support import chain, node


async def test_start_answers_202_and_the_row_exists(client):
    workflow = await startable_workflow(client)
    response = await client.post(
        f"{P}/workflows/{workflow['id']}/executions",
        json=start_body(variables={"name": "Ana"}, initial_data={"x": 1}),
    )
    assert response.status_code == 202
    assert_matches(response.json(), "WorkflowExecutionCreateAcceptedResponse")
    assert response.json()["data"]["message"] == "Workflow execution initiated"
    assert response.headers["X-Burst-RateLimit-Limit"]
    assert response.headers["X-RateLimit-Remaining"]
    accepted = response.json()["data"]

    detail = await client.get(f"{P}/workflow_executions/{accepted['id']}")
    assert detail.status_code == 200
    assert_matches(detail.json(), "WorkflowExecutionResponse")
    data = detail.json()["data"]
    assert data["status"] == "waiting"
    assert data["tracking_id"] == accepted["tracking_id"]
    assert data["resumable_execution_id"] == accepted["id"]
    assert data["current_step"]["identifier"] == "wait_age"
    assert data["current_step"]["stepable_type"] == "FlowWaitStep"
    context = data["execution_context"]
    assert context["vars"] == {"name": "Ana"}
    assert context["context"]["channel"] == "sandbox"
    assert context["context"]["phone_number"] == "+15550001111"
    assert context["system"]["trigger_type"] == "api_call"
    assert context["metadata"]["initial_data"] == {"x": 1}
    assert [e["event_type"] for e in data["events"]][:2] == ["execution_started", "step_entered"]
    assert data["whatsapp_conversation_id"]


async def test_start_requires_active_workflow_and_api_call_trigger(client):
    draft = await create_workflow(client, "Draft")
    response = await client.post(f"{P}/workflows/{draft['id']}/executions", json=start_body())
    assert response.status_code == 422
    assert "draft" in response.json()["error"]
    await client.patch(f"{P}/workflows/{draft['id']}", json={"workflow": {"status": "active"}})
    response = await client.post(f"{P}/workflows/{draft['id']}/executions", json=start_body())
    assert response.status_code == 422
    assert "api_call trigger" in response.json()["error"]
    assert_error(response.json())
    missing = await client.post(f"{P}/workflows/nope/executions", json=start_body())
    assert missing.status_code == 404
    no_phone = await client.post(
        f"{P}/workflows/{draft['id']}/executions", json={"workflow_execution": {}}
    )
    assert no_phone.status_code == 422


async def test_whatsapp_channel_without_a_number_is_refused_at_the_call(client, engine):
    workflow = await startable_workflow(client)
    body = {"workflow_execution": {"phone_number": "+15550002222"}}
    response = await client.post(f"{P}/workflows/{workflow['id']}/executions", json=body)
    # No WhatsApp number is configured for this project: the start is refused at once,
    # saying which field to pass and that the sandbox channel is the offline option.
    assert response.status_code == 422, response.text
    (problem,) = response.json()["details"]
    assert problem["field"] == "workflow_execution.phone_number_id"
    assert "sandbox" in problem["message"] and problem["numbers_count"] == 0


async def test_list_filters_and_paging(client, clock):
    workflow = await startable_workflow(client)
    ids = []
    for i in range(5):
        ids.append((await start(client, workflow["id"], phone=f"+1555000000{i % 2}"))["id"])
        clock.advance(1)
    await resume(client, ids[0], "42")
    base = f"{P}/workflows/{workflow['id']}/executions"

    response = await client.get(base, params={"limit": 2})
    body = response.json()
    assert_matches(body, "WorkflowExecutionListResponse")
    assert [e["id"] for e in body["data"]] == [ids[4], ids[3]]
    assert body["paging"]["previous"] is None and body["paging"]["next"]
    page2 = (await client.get(base, params={"limit": 2, "after": body["paging"]["next"]})).json()
    assert [e["id"] for e in page2["data"]] == [ids[2], ids[1]]
    back = await client.get(base, params={"limit": 2, "before": page2["paging"]["previous"]})
    assert [e["id"] for e in back.json()["data"]] == [ids[4], ids[3]]

    async def listed(**params):
        response = await client.get(base, params=params)
        assert_matches(response.json(), "WorkflowExecutionListResponse")
        return [e["id"] for e in response.json()["data"]]

    assert await listed(status="ended") == [ids[0]]
    assert await listed(waiting_reason="wait_for_response") == ids[:0:-1]
    conversation = (await execution(client, ids[1]))["whatsapp_conversation_id"]
    assert await listed(whatsapp_conversation_id=conversation) == [ids[3], ids[1]]
    started = (await execution(client, ids[2]))["started_at"]
    assert await listed(created_after=started) == [ids[4], ids[3], ids[2]]
    assert await listed(created_before=started) == [ids[2], ids[1], ids[0]]

    conversation_page = await client.get(
        f"{P}/whatsapp/conversations/{conversation}/flow_executions", params={"limit": 1}
    )
    assert_matches(conversation_page.json(), "WorkflowExecutionListResponse")
    assert [e["id"] for e in conversation_page.json()["data"]] == [ids[3]]

    bad = await client.get(base, params={"after": "not-a-cursor"})
    assert bad.status_code == 400
    assert_error(bad.json())
    assert (await client.get(base, params={"limit": 101})).status_code == 422


async def test_events_list_and_single_event(client):
    workflow = await startable_workflow(client)
    started = await start(client, workflow["id"])
    base = f"{P}/workflow_executions/{started['id']}/events"
    first = (await client.get(base, params={"limit": 3})).json()
    assert_matches(first, "WorkflowEventListResponse")
    newest_first = [e["event_type"] for e in first["data"]]
    assert newest_first[0] == "step_entered" and len(newest_first) == 3
    rest = (await client.get(base, params={"after": first["paging"]["next"]})).json()
    everything = first["data"] + rest["data"]
    assert everything[-1]["event_type"] == "execution_started"
    typed = (await client.get(base, params={"event_type": "step_entered"})).json()
    assert {e["event_type"] for e in typed["data"]} == {"step_entered"}

    one = await client.get(f"{P}/workflow_events/{everything[0]['id']}")
    assert one.status_code == 200
    assert_matches(one.json()["data"], "WorkflowEvent")
    assert one.json()["data"] == everything[0]
    assert (await client.get(f"{P}/workflow_events/unknown")).status_code == 404


async def test_resume_and_not_waiting(client):
    workflow = await startable_workflow(client)
    started = await start(client, workflow["id"])
    response = await client.post(
        f"{P}/workflow_executions/{started['id']}/resume",
        json={"message": {"kind": "payload", "data": "42"}, "variables": {"lead": 7}},
    )
    assert response.status_code == 200, response.text
    assert_matches(response.json(), "WorkflowExecutionResumeResponse")
    data = response.json()["data"]
    assert data["status"] == "ended"
    assert data["requested_execution_id"] == started["id"]
    assert data["parent_flow_execution_id"] is None
    detail = await execution(client, started["id"])
    assert detail["execution_context"]["vars"]["age"] == "42"
    assert detail["execution_context"]["vars"]["lead"] == 7
    assert detail["resumable_execution_id"] is None

    again = await resume(client, started["id"], "43")
    assert again.status_code == 422
    assert_error(again.json())
    assert "ended" in again.json()["error"]
    assert (await resume(client, "missing", "x")).status_code == 404
    no_data = await client.post(
        f"{P}/workflow_executions/{started['id']}/resume", json={"message": {}}
    )
    assert no_data.status_code == 422


async def _parent_calling(client, child_definition, *, then: str) -> dict:
    """A startable parent that calls an active child workflow, then says `then`."""
    child = await create_workflow(client, "Child", child_definition)
    await client.patch(f"{P}/workflows/{child['id']}", json={"workflow": {"status": "active"}})
    return await startable_workflow(
        client,
        "Parent",
        chain(
            node("start", "start"),
            node("call_child", "call", workflow_id=child["id"]),
            node("after", "send_text", message=then),
        ),
    )


async def test_resume_routes_to_the_deepest_waiting_child(client):
    child_definition = chain(
        node("start", "start"),
        node("ask", "send_text", message="child asks"),
        node("wait", "wait_for_response", save_response_to="answer"),
    )
    parent = await _parent_calling(client, child_definition, then="back in parent")
    started = await start(client, parent["id"])
    detail = await execution(client, started["id"])
    assert detail["status"] == "waiting"
    child_id = detail["resumable_execution_id"]
    assert child_id and child_id != started["id"]

    response = await resume(client, started["id"], "hello")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert_matches(response.json(), "WorkflowExecutionResumeResponse")
    assert data["id"] == child_id
    assert data["requested_execution_id"] == started["id"]
    assert data["parent_flow_execution_id"] == started["id"]
    assert (await execution(client, started["id"]))["status"] == "ended"


async def test_patch_status_transitions(client):
    workflow = await startable_workflow(client)
    path = f"{P}/workflow_executions/{(await start(client, workflow['id']))['id']}"

    response = await client.patch(path, json={"workflow_execution": {"status": "handoff"}})
    assert response.status_code == 200, response.text
    assert_matches(response.json(), "WorkflowExecutionMinimalResponse")
    assert response.json()["data"]["status"] == "handoff"

    response = await client.patch(path, json={"workflow_execution": {"status": "waiting"}})
    assert response.json()["data"]["status"] == "waiting"
    listed = await client.get(
        f"{P}/workflows/{workflow['id']}/executions", params={"waiting_reason": "manual"}
    )
    assert len(listed.json()["data"]) == 1

    # A manual wait takes input like a wait node and goes on along `next`.
    resumed = await resume(client, path.rsplit("/", 1)[1], "42")
    assert resumed.status_code == 200, resumed.text

    assert resumed.json()["data"]["status"] == "waiting"  # no age saved: asked again
    response = await client.patch(path, json={"workflow_execution": {"status": "ended"}})
    assert response.status_code == 200
    response = await client.patch(path, json={"workflow_execution": {"status": "waiting"}})
    assert response.status_code == 422
    assert response.json() == {"error": "Invalid transition from ended to waiting"}

    bad = await client.patch(path, json={"workflow_execution": {"status": "running"}})
    assert bad.status_code == 422
    missing = await client.patch(path, json={})
    assert missing.status_code == 422


async def test_idempotency_key_replays_the_first_response(client):
    workflow = await startable_workflow(client)
    url = f"{P}/workflows/{workflow['id']}/executions"
    headers = {"Idempotency-Key": "order-1"}
    first = await client.post(url, json=start_body(), headers=headers)
    second = await client.post(url, json=start_body(), headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.content == second.content
    listed = await client.get(f"{P}/workflows/{workflow['id']}/executions")
    assert len(listed.json()["data"]) == 1

    execution_id = first.json()["data"]["id"]
    resume_url = f"{P}/workflow_executions/{execution_id}/resume"
    body = {"message": {"data": "42"}}
    once = await client.post(resume_url, json=body, headers={"Idempotency-Key": "r-1"})
    twice = await client.post(resume_url, json=body, headers={"Idempotency-Key": "r-1"})
    assert once.status_code == twice.status_code == 200
    assert once.content == twice.content
    other_key = await client.post(resume_url, json=body, headers={"Idempotency-Key": "r-2"})
    assert other_key.status_code == 422


async def test_concurrent_first_requests_with_one_key_start_once(client):
    """Requests racing with one key: one start runs; the others answer with its stored
    result (PostgreSQL: the unique constraint turns them back to it), byte for byte."""
    workflow = await startable_workflow(client)
    url = f"{P}/workflows/{workflow['id']}/executions"
    headers = {"Idempotency-Key": "race-1"}
    answers = await asyncio.gather(
        *(client.post(url, json=start_body(), headers=headers) for _ in range(4))
    )
    assert {a.status_code for a in answers} == {202}, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    listed = await client.get(f"{P}/workflows/{workflow['id']}/executions")
    assert len(listed.json()["data"]) == 1


async def test_resume_while_the_row_is_locked_elsewhere_is_409(client, engine, backend):
    """PostgreSQL: another process advancing the execution holds its row; the resume
    answers 409 at once (FOR UPDATE NOWAIT) instead of queueing behind it."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer: a second resume waits its turn, then sees it")
    import sqlalchemy as sa

    from convoflow.store.schema import executions

    workflow = await startable_workflow(client)
    started = await start(client, workflow["id"])
    async with engine.db.engine.connect() as conn, conn.begin():
        await conn.execute(
            sa.select(executions.c.id).where(executions.c.id == started["id"]).with_for_update()
        )
        response = await resume(client, started["id"], "42")
    assert response.status_code == 409, response.text
    assert_error(response.json())
    assert (await resume(client, started["id"], "42")).status_code == 200


async def test_a_resume_while_this_process_resumes_the_execution_is_409(client, engine):
    """The process's resumes in flight (`Process.resumes`): a second resume is refused at
    once, and the execution takes input again once the first is done."""
    workflow = await startable_workflow(client)
    started = await start(client, workflow["id"])
    with engine.resumes.claim(started["id"]):
        response = await resume(client, started["id"], "42")
        assert response.status_code == 409, response.text
        assert_error(response.json())
    assert (await resume(client, started["id"], "42")).status_code == 200


async def test_ending_a_parent_ends_its_child_without_resuming_the_parent(client):
    child_definition = chain(node("start", "start"), node("wait", "wait_for_response"))
    parent = await _parent_calling(client, child_definition, then="must not be sent")
    started = await start(client, parent["id"])
    child_id = (await execution(client, started["id"]))["resumable_execution_id"]
    response = await client.patch(
        f"{P}/workflow_executions/{started['id']}", json={"workflow_execution": {"status": "ended"}}
    )
    assert response.status_code == 200, response.text
    parent_detail = await execution(client, started["id"])
    assert parent_detail["status"] == "ended"
    assert parent_detail["current_step"]["identifier"] == "call_child"
    assert "after" not in {e.get("step", {}).get("identifier") for e in parent_detail["events"]}
    assert (await execution(client, child_id))["status"] == "ended"


async def test_concurrent_starts_for_a_new_number_share_one_conversation(client):
    """Starts racing for a number with no conversation yet (on PostgreSQL they run in
    parallel transactions): the conversation is created once."""
    workflow = await startable_workflow(client)
    phone = "+15550009999"
    started = await asyncio.gather(*(start(client, workflow["id"], phone) for _ in range(12)))
    views = [await execution(client, accepted["id"]) for accepted in started]
    assert len({view["whatsapp_conversation_id"] for view in views}) == 1
