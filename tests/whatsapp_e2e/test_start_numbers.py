"""API starts pick the number the way a user expects (issue 8, item 2), and a start that
names another project's number is refused (item 1), on both APIs and both databases.

Order: the request's number; else the number of the user's conversation (active first); else the
workflow's only inbound_message trigger number; else the project's only number; else a
422 at the API call that says which field to pass."""

from __future__ import annotations

from typing import Any

import httpx

from convoflow.store.schema import conversations
from tests.whatsapp_e2e.conftest import NUMBER, USER, P, World, add_number
from tests.whatsapp_e2e.helpers import (
    THEIR_NUMBER,
    echo_start,
    inbound_flow,
    other_tenant,
    rows,
    sent_texts,
)

LEGACY = "/api/v1"
OTHER_NUMBER = "100000000000777"


async def api_flow(world: World) -> str:
    return await inbound_flow(world, echo_start(), trigger={"trigger_type": "api_call"})


async def start(world: World, workflow_id: str, **fields: Any) -> httpx.Response:
    body = {"phone_number": f"+{USER}", "variables": {"last_user_input": "api"}, **fields}
    return await world.api.post(
        f"{P}/workflows/{workflow_id}/executions", json={"workflow_execution": body}
    )


def senders(world: World) -> list[str]:
    return [str(r["phone_number_id"]) for r in world.fake.records(kind="message", to=USER)]


async def test_the_projects_only_number_is_used_when_the_start_names_none(world: World) -> None:
    workflow_id = await api_flow(world)
    started = await start(world, workflow_id)
    assert started.status_code == 202, started.text
    await world.settle()
    execution = await world.get(f"/workflow_executions/{started.json()['data']['id']}")
    assert execution["data"]["status"] == "waiting", execution
    assert sent_texts(world, USER) == ["got: api"] and senders(world) == [NUMBER]


async def test_the_users_active_conversation_decides_the_number(world: World) -> None:
    await add_number(world.engine, world.project_id, phone_number_id=OTHER_NUMBER)
    await world.say("hello", phone_number_id=OTHER_NUMBER)  # no flow: just a conversation
    workflow_id = await api_flow(world)
    assert (await start(world, workflow_id)).status_code == 202
    await world.settle()
    assert set(senders(world)) == {OTHER_NUMBER}


async def test_an_ended_conversation_still_names_the_users_number(world: World) -> None:
    """The user wrote to OTHER_NUMBER and that conversation was ended: a start without a
    number still writes from OTHER_NUMBER (it was refused: two numbers, none implied)."""
    await add_number(world.engine, world.project_id, phone_number_id=OTHER_NUMBER)
    await world.say("hello", phone_number_id=OTHER_NUMBER)
    (conversation,) = (await world.get("/whatsapp/conversations"))["data"]
    ended = await world.api.patch(
        f"{P}/whatsapp/conversations/{conversation['id']}",
        json={"whatsapp_conversation": {"status": "ended"}},
    )
    assert ended.status_code == 200, ended.text
    workflow_id = await api_flow(world)
    started = await start(world, workflow_id)
    assert started.status_code == 202, started.text
    await world.settle()
    assert set(senders(world)) == {OTHER_NUMBER}


async def test_the_workflows_single_trigger_number_decides(world: World) -> None:
    await add_number(world.engine, world.project_id, phone_number_id=OTHER_NUMBER)
    trigger = {"trigger_type": "inbound_message", "phone_number_id": OTHER_NUMBER}
    workflow_id = await inbound_flow(world, echo_start(), trigger=trigger)
    api_call = {"trigger": {"trigger_type": "api_call"}}
    assert (
        await world.api.post(f"{P}/workflows/{workflow_id}/triggers", json=api_call)
    ).status_code == 201
    assert (await start(world, workflow_id)).status_code == 202
    await world.settle()
    assert set(senders(world)) == {OTHER_NUMBER}


async def test_several_numbers_and_no_hint_is_a_422_at_the_call(world: World) -> None:
    await add_number(world.engine, world.project_id, phone_number_id=OTHER_NUMBER)
    workflow_id = await api_flow(world)
    refused = await start(world, workflow_id)
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["details"]
    assert problem["field"] == "workflow_execution.phone_number_id"
    assert problem["numbers_count"] == 2
    assert "2 WhatsApp numbers" in problem["message"] and "sandbox" in problem["message"]
    legacy = await world.api.post(
        f"{LEGACY}/flows/{workflow_id}/executions", json={"phone_number": f"+{USER}"}
    )
    assert legacy.status_code == 422, legacy.text
    (problem,) = legacy.json()["details"]
    assert problem["field"] == "whatsapp_config_id"
    # It says which field to pass on this API (the old text named phone_number_id).
    assert "pass whatsapp_config_id" in problem["message"]
    assert await rows(world, conversations, wa_id=USER) == []
    # Naming the number, or running on the sandbox, works.
    assert (await start(world, workflow_id, phone_number_id=OTHER_NUMBER)).status_code == 202
    sandbox = await start(world, workflow_id, context={"channel": "sandbox"})
    assert sandbox.status_code == 202, sandbox.text


async def test_a_project_without_numbers_is_told_at_the_call(world: World) -> None:
    async with other_tenant(world) as them:
        workflow_id = await api_flow(them)
        refused = await start(them, workflow_id)
        assert refused.status_code == 422, refused.text
        (problem,) = refused.json()["details"]
        assert problem["numbers_count"] == 0 and "no WhatsApp number" in problem["message"]
        assert "0 WhatsApp numbers" in problem["message"]
        legacy = await them.api.post(
            f"{LEGACY}/flows/{workflow_id}/executions", json={"phone_number": f"+{USER}"}
        )
        assert legacy.status_code == 422 and "sandbox" in legacy.text


async def test_a_start_with_another_projects_number_is_refused(world: World) -> None:
    """The hostile tenant names the victim's number: before, a 202 that left a
    conversation for (NUMBER, USER) in the hostile project, which then received — and
    could read — the user's next message to the victim."""
    victim_flow = await inbound_flow(world, echo_start())
    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        workflow_id = await api_flow(them)
        for context in ({}, {"channel": "sandbox"}):
            refused = await start(them, workflow_id, phone_number_id=NUMBER, context=context)
            assert refused.status_code == 422, refused.text
            (problem,) = refused.json()["details"]
            assert problem["field"] == "workflow_execution.phone_number_id"
            assert NUMBER in problem["message"]
        assert await rows(world, conversations, project_id=them.project_id) == []
        assert world.fake.records(kind="message") == []
    await world.say("hi")
    await world.settle()
    (conversation,) = await rows(world, conversations, wa_id=USER)
    assert conversation["project_id"] == world.project_id
    assert sent_texts(world, USER) == ["got: hi"] and victim_flow


async def test_a_conversation_left_in_another_project_never_gets_the_users_messages(
    world: World,
) -> None:
    """Conversation lookups by (number, user) are scoped by the number's owner: a row
    for the victim's number in another project (as the hole above left them) is inert."""
    await inbound_flow(world, echo_start())
    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        now = world.clock.now()
        stale = {
            "id": "stale-conversation", "project_id": them.project_id, "channel": "whatsapp",
            "phone_number_id": NUMBER, "wa_id": USER, "status": "active", "metadata": {},
            "messages_count": 0, "created_at": now, "updated_at": now,
        }  # fmt: skip
        async with world.engine.db.write() as conn:
            await conn.execute(conversations.insert(), stale)
        await world.say("hi")
        await world.settle()
        listed = await them.get("/whatsapp/messages")
        assert listed["data"] == []
    (mine,) = [
        c for c in await rows(world, conversations, wa_id=USER) if c["id"] != "stale-conversation"
    ]
    assert mine["project_id"] == world.project_id and mine["messages_count"] >= 1
    assert sent_texts(world, USER) == ["got: hi"]


async def test_a_platform_start_honours_and_checks_whatsapp_config_id(world: World) -> None:
    """Kapso's start body has a deprecated integer `whatsapp_config_id`. It was accepted
    and ignored: a start naming another project's number got a 202 (and sent from the
    caller's own number); one naming the caller's second number sent from the first."""
    await add_number(world.engine, world.project_id, phone_number_id=OTHER_NUMBER)
    workflow_id = await api_flow(world)
    assert (
        await start(world, workflow_id, whatsapp_config_id=int(OTHER_NUMBER))
    ).status_code == 202
    await world.settle()
    assert senders(world) == [OTHER_NUMBER]
    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        their_flow = await api_flow(them)
        victims = {"whatsapp_config_id": int(NUMBER)}
        for fields in (
            victims,
            {**victims, "phone_number_id": THEIR_NUMBER},  # the preferred field is theirs
            {**victims, "context": {"channel": "sandbox"}},
        ):
            refused = await start(them, their_flow, **fields)
            assert refused.status_code == 422, (fields, refused.text)
            (problem,) = refused.json()["details"]
            assert problem["field"] == "workflow_execution.whatsapp_config_id"
            assert problem["code"] == "unknown_phone_number" and NUMBER in problem["message"]
            # The integer field takes a phone_number_id only: no "our id" (a UUID) hint.
            assert "expected the phone_number_id of one" in problem["message"], problem
        assert await rows(world, conversations, project_id=them.project_id) == []
    assert senders(world) == [OTHER_NUMBER]


async def test_a_legacy_start_checks_the_flow_before_the_number(world: World) -> None:
    """An unknown flow is a 404 whatever the body says (the number was looked up first,
    outside the start, so another project's flow id with a bad number answered 422); a
    number that is not the project's has the same code as on /platform/v1."""
    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        body = {"phone_number": f"+{USER}", "whatsapp_config_id": NUMBER}
        unknown = await them.api.post(f"{LEGACY}/flows/no-such-flow/executions", json=body)
        assert unknown.status_code == 404, unknown.text
        their_flow = await api_flow(them)
        refused = await them.api.post(f"{LEGACY}/flows/{their_flow}/executions", json=body)
        assert refused.status_code == 422, refused.text
        (problem,) = refused.json()["details"]
        assert (problem["field"], problem["code"]) == ("whatsapp_config_id", "unknown_phone_number")
        # /api/v1's string field takes our id of the number as well.
        assert "expected the id or the phone_number_id of one" in problem["message"], problem
