"""Phone numbers belong to one project, everywhere (issue 8, item 1): a hostile tenant on
the same server names the victim's number in every place a request can carry one, and
signs a webhook body that mixes both tenants' numbers. Both databases."""

from __future__ import annotations

import httpx

from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.store.schema import (
    conversations,
    messages,
    phone_numbers,
    triggers,
    whatsapp_webhook_receipts,
)
from tests.api.helpers import create_workflow
from tests.support import chain, node
from tests.whatsapp_e2e.conftest import NUMBER, USER, P, World, add_number
from tests.whatsapp_e2e.helpers import (
    THEIR_NUMBER,
    THEIR_SECRET,
    echo_start,
    inbound_flow,
    other_tenant,
    rows,
    sent_texts,
)


def only_problem(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    (problem,) = response.json()["details"]
    assert NUMBER in problem["message"] and "phone_numbers" in problem["message"]
    return dict(problem)


async def test_triggers_cannot_listen_to_another_projects_number(world: World) -> None:
    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        workflow = await create_workflow(them.api, "Steal", echo_start())
        url = f"{P}/workflows/{workflow['id']}/triggers"
        for kind in ("inbound_message", "whatsapp_event"):
            trigger = {"trigger_type": kind, "phone_number_id": NUMBER}
            if kind == "whatsapp_event":
                trigger["event"] = "whatsapp.message.received"
            problem = only_problem(await them.api.post(url, json={"trigger": trigger}))
            assert problem["field"] == "trigger.phone_number_id"
        replaced = await them.api.put(
            url, json={"triggers": [{"trigger_type": "inbound_message", "phone_number_id": NUMBER}]}
        )
        assert only_problem(replaced)["field"] == "triggers[0].phone_number_id"
        assert await rows(world, triggers, project_id=them.project_id) == []
        mine = {"trigger_type": "inbound_message", "phone_number_id": THEIR_NUMBER}
        assert (await them.api.post(url, json={"trigger": mine})).status_code == 201
        # A trigger left over from before (inactive) cannot be switched on either.
        now = world.clock.now()
        stale = {
            "id": "stale-trigger", "project_id": them.project_id, "workflow_id": workflow["id"],
            "trigger_type": "whatsapp_event", "event": "whatsapp.message.sent",
            "active": False, "phone_number_id": NUMBER, "created_at": now, "updated_at": now,
        }  # fmt: skip
        async with world.engine.db.write() as conn:
            await conn.execute(triggers.insert(), stale)
        activate = {"trigger": {"active": True}}
        reactivated = await them.api.patch(f"{P}/triggers/stale-trigger", json=activate)
        assert only_problem(reactivated)["field"] == "trigger.phone_number_id"


async def test_activation_refuses_send_nodes_naming_another_projects_number(world: World) -> None:
    definition = chain(
        node("start", "start"),
        node("hello", "send_text", message="hi", phone_number_id=NUMBER),
    )
    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        workflow = await create_workflow(them.api, "Sender", definition)
        url = f"{P}/workflows/{workflow['id']}"
        problem = only_problem(await them.api.patch(url, json={"workflow": {"status": "active"}}))
        assert problem["node_id"] == "hello"
        assert problem["field"] == "definition.nodes[hello].config.phone_number_id"
        assert (await them.get(f"/workflows/{workflow['id']}"))["data"]["status"] == "draft"
        legacy = await them.api.patch(
            f"/api/v1/flows/{workflow['id']}", json={"flow": {"status": "active"}}
        )
        assert legacy.status_code == 422, legacy.text
        # Its own number is fine; saving the victim's number into the active workflow is not.
        definition["nodes"][1]["data"]["config"]["phone_number_id"] = THEIR_NUMBER
        body = {"workflow": {"status": "active", "definition": definition}}
        assert (await them.api.patch(url, json=body)).status_code == 200
        definition["nodes"][1]["data"]["config"]["whatsapp_config_id"] = NUMBER
        saved = await them.api.patch(url, json={"workflow": {"definition": definition}})
        assert only_problem(saved)["field"] == "definition.nodes[hello].config.whatsapp_config_id"


async def test_activation_lists_graph_problems_and_foreign_numbers_together(
    world: World,
) -> None:
    """A 422 lists every problem: the foreign number used to be reported only once the
    graph's own problems were fixed (one round trip per kind of problem)."""
    definition = chain(
        node("start", "start"),
        node("hello", "send_text", message="hi", phone_number_id=NUMBER),
        node("empty", "send_text"),
    )
    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        workflow = await create_workflow(them.api, "Both", definition)
        url = f"{P}/workflows/{workflow['id']}"
        for attempt in (
            await them.api.patch(url, json={"workflow": {"status": "active"}}),
            await them.api.patch(
                f"/api/v1/flows/{workflow['id']}", json={"flow": {"status": "active"}}
            ),
        ):
            assert attempt.status_code == 422, attempt.text
            found = {(p["node_id"], p["field"], p["code"]) for p in attempt.json()["details"]}
            assert found == {
                ("empty", "config.message", "empty_required_field"),
                ("hello", "definition.nodes[hello].config.phone_number_id", "unknown_phone_number"),
            }
            assert "2 problems" in attempt.json()["error"]
        assert (await them.get(f"/workflows/{workflow['id']}"))["data"]["status"] == "draft"


async def test_a_templated_send_number_is_rendered_and_checked_at_send_time(
    world: World,
) -> None:
    """Activation cannot know `{{vars.sender}}`; the send renders it (it went out as the
    literal text, so a templated number never worked) and the channel refuses another
    project's number: the hostile tenant's execution fails and nothing is sent."""
    other = "100000000000777"
    await add_number(world.engine, world.project_id, phone_number_id=other)
    definition = chain(
        node("start", "start"),
        node("hello", "send_text", message="hi", phone_number_id="{{vars.sender}}"),
        node("wait", "wait_for_response"),
    )

    async def start(tenant: World, conversation_number: str, sender: str) -> str:
        api_call = {"trigger_type": "api_call"}
        flow = await inbound_flow(tenant, definition, name=f"From {sender}", trigger=api_call)
        body = {
            "phone_number": f"+{USER}",
            "phone_number_id": conversation_number,
            "variables": {"sender": sender},
        }
        started = await tenant.api.post(
            f"{P}/workflows/{flow}/executions", json={"workflow_execution": body}
        )
        assert started.status_code == 202, started.text
        return str(started.json()["data"]["id"])

    await start(world, NUMBER, other)
    await world.settle()
    assert [r["phone_number_id"] for r in world.fake.records(kind="message")] == [other]
    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        failures = []
        for sender in (NUMBER, "100000000000999"):  # the victim's, and nobody's
            hostile = await start(them, THEIR_NUMBER, sender)
            await world.settle()
            execution = (await them.get(f"/workflow_executions/{hostile}"))["data"]
            assert execution["status"] == "failed", execution
            assert sender in str(execution["error_details"]), execution
            failures.append(str(execution["error_details"]["message"]).replace(sender, "X"))
        # No oracle: the victim's number fails exactly like an unknown one.
        assert failures[0] == failures[1]
    assert [r["phone_number_id"] for r in world.fake.records(kind="message")] == [other]


async def test_a_send_nodes_whatsapp_config_id_names_the_sender(world: World) -> None:
    """Activation accepts a send node's `whatsapp_config_id` (Kapso's config id, our
    `internal_id`, or the phone_number_id) when it is the project's; the send then used
    the conversation's number instead, silently."""
    other = "100000000000777"
    await add_number(world.engine, world.project_id, phone_number_id=other)
    internal_id = (await world.get(f"/whatsapp/phone_numbers/{other}"))["data"]["internal_id"]
    for config_id in (internal_id, other):
        definition = chain(
            node("start", "start"),
            node("hello", "send_text", message="hi", whatsapp_config_id=config_id),
            node("wait", "wait_for_response"),
        )
        api_call = {"trigger_type": "api_call"}
        flow = await inbound_flow(world, definition, name=f"Via {config_id}", trigger=api_call)
        body = {"phone_number": f"+{USER}", "phone_number_id": NUMBER}
        started = await world.api.post(
            f"{P}/workflows/{flow}/executions", json={"workflow_execution": body}
        )
        assert started.status_code == 202, started.text
        await world.settle()
    assert [r["phone_number_id"] for r in world.fake.records(kind="message")] == [other, other]
    # Another project's config id, rendered from a variable, fails like an unknown one.
    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        definition = chain(
            node("start", "start"),
            node("hello", "send_text", message="hi", whatsapp_config_id="{{vars.cfg}}"),
            node("wait", "wait_for_response"),
        )
        flow = await inbound_flow(them, definition, trigger={"trigger_type": "api_call"})
        body = {"phone_number": f"+{USER}", "variables": {"cfg": internal_id}}
        started = await them.api.post(
            f"{P}/workflows/{flow}/executions", json={"workflow_execution": body}
        )
        await world.settle()
        execution = await them.get(f"/workflow_executions/{started.json()['data']['id']}")
        assert execution["data"]["status"] == "failed", execution
        assert "is not configured in this project" in str(execution["data"]["error_details"])
    assert len(world.fake.records(kind="message")) == 2


async def test_a_sender_template_rendering_empty_fails_the_step(world: World) -> None:
    """`phone_number_id: {{vars.sender}}` with no `sender`: the send went out from the
    other sender field's number (or the conversation's), silently. It fails, naming the
    field, and nothing is sent."""
    other = "100000000000777"
    await add_number(world.engine, world.project_id, phone_number_id=other)
    definition = chain(
        node("start", "start"),
        node(
            "hello",
            "send_text",
            message="hi",
            phone_number_id="{{vars.sender}}",
            whatsapp_config_id=other,
        ),
        node("wait", "wait_for_response"),
    )
    flow = await inbound_flow(world, definition, trigger={"trigger_type": "api_call"})
    body = {"phone_number": f"+{USER}", "phone_number_id": NUMBER}
    started = await world.api.post(
        f"{P}/workflows/{flow}/executions", json={"workflow_execution": body}
    )
    assert started.status_code == 202, started.text
    await world.settle()
    execution = (await world.get(f"/workflow_executions/{started.json()['data']['id']}"))["data"]
    assert execution["status"] == "failed", execution
    message = str(execution["error_details"]["message"])
    assert "phone_number_id '{{vars.sender}}' rendered empty" in message, message
    assert world.fake.records(kind="message") == []


async def test_human_replies_cannot_send_from_another_projects_number(world: World) -> None:
    await inbound_flow(world, echo_start())
    await world.say("hi")
    await world.settle()
    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        reply = {"phone_number_id": NUMBER, "to": USER, "text": "from the hostile tenant"}
        problem = only_problem(await them.api.post(f"{P}/whatsapp/messages", json=reply))
        assert problem["field"] == "phone_number_id"
        proxied = await them.api.post(
            f"/meta/whatsapp/v24.0/{NUMBER}/messages",
            json={"messaging_product": "whatsapp", "to": USER, "type": "text",
                  "text": {"body": "from the hostile tenant"}},
        )  # fmt: skip
        assert only_problem(proxied)["field"] == "phone_number_id"
        assert await rows(world, conversations, project_id=them.project_id) == []
    assert sent_texts(world, USER) == ["got: hi"]


async def test_a_webhook_mixing_two_projects_numbers_needs_both_secrets(world: World) -> None:
    """Signed with the hostile tenant's own app secret, a body whose second entry names
    the victim's number was accepted: the hostile tenant injected a message into the
    victim's conversation. Now: 403 and nothing stored."""
    await inbound_flow(world, echo_start())
    async with other_tenant(world, (THEIR_NUMBER,)) as them:
        entries = []
        for number, wamid in ((THEIR_NUMBER, "wamid.THEIRS"), (NUMBER, "wamid.INJECTED")):
            body = bodies.inbound_message_body(
                {"type": "text", "text": {"body": "injected"}},
                phone_number_id=number, wa_id=USER, wamid=wamid, timestamp=1_700_000_000,
            )  # fmt: skip
            entries += body["entry"]
        mixed = {"object": "whatsapp_business_account", "entry": entries}
        for secret in (THEIR_SECRET, "e2e-app-secret"):
            assert (await them.post_webhook(mixed, secret=secret)).status_code == 403
        assert await rows(world, messages) == []
        assert await rows(world, whatsapp_webhook_receipts) == []
        # Each tenant's own body, signed with its own secret, still goes through.
        (their_entry, _) = entries
        own = {"object": "whatsapp_business_account", "entry": [their_entry]}
        assert (await them.post_webhook(own, secret=THEIR_SECRET)).status_code == 200
    await world.settle()
    assert sent_texts(world, USER) == []
    (stored,) = await rows(world, messages)
    assert stored["provider_message_id"] == "wamid.THEIRS"


def number_body(phone_number_id: str, token: str) -> dict[str, object]:
    return {
        "whatsapp_phone_number": {
            "phone_number_id": phone_number_id, "access_token": token, "app_secret": "s",
            "display_phone_number": "+1 000", "name": "Mine",
        }
    }  # fmt: skip


async def test_connecting_a_number_proves_control_of_it(world: World) -> None:
    """The Graph API must accept the token for the number; its answer fills the number's
    details. Another project's number answers exactly like an unknown one."""
    world.fake.configure({"known_numbers_only": True})
    world.fake.register_number(
        THEIR_NUMBER, "EAAG-their-token", display_phone_number="+1 555 010 0888",
        verified_name="Hostile Inc", quality_rating="GREEN",
    )  # fmt: skip
    url = f"{P}/whatsapp/phone_numbers"
    async with other_tenant(world) as them:
        wrong = await them.api.post(url, json=number_body(THEIR_NUMBER, "EAAG-guessed"))
        unknown = await them.api.post(url, json=number_body("100000000000999", "EAAG-their-token"))
        # The victim's number, even with the victim's real token: as if it did not exist.
        taken = await them.api.post(url, json=number_body(NUMBER, "EAAG-e2e-access-token"))
        for refused, number in (
            (wrong, THEIR_NUMBER),
            (unknown, "100000000000999"),
            (taken, NUMBER),
        ):
            assert refused.status_code == 422, refused.text
            (problem,) = refused.json()["details"]
            assert problem["field"] == "whatsapp_phone_number.phone_number_id"
            assert f"Object with ID '{number}' does not exist" in problem["message"]
            assert problem["meta_error"] == {"code": 100, "subcode": 33}
        assert taken.text.replace(NUMBER, "X") == unknown.text.replace("100000000000999", "X")
        created = await them.api.post(url, json=number_body(THEIR_NUMBER, "EAAG-their-token"))
        assert created.status_code == 201, created.text
        view = created.json()["data"]
        assert (view["display_phone_number"], view["verified_name"], view["quality_rating"]) == (
            "+1 555 010 0888", "Hostile Inc", "GREEN",
        )  # fmt: skip
        rotated = await them.api.patch(
            f"{url}/{THEIR_NUMBER}", json={"whatsapp_phone_number": {"access_token": "EAAG-bad"}}
        )
        assert rotated.status_code == 422 and "does not exist" in rotated.text
        (mine,) = await rows(world, phone_numbers, phone_number_id=NUMBER)
        assert mine["project_id"] == world.project_id
        (theirs,) = await rows(world, phone_numbers, phone_number_id=THEIR_NUMBER)
        assert theirs["updated_at"] == theirs["created_at"]  # the refused PATCH changed nothing


async def test_a_number_id_that_is_not_digits_is_refused_before_any_graph_call(
    world: World,
) -> None:
    """`1€` was a 500 (UnicodeEncodeError building the Graph request), `1 2?x` changed
    the request line: Meta's ids are digits, anything else is a 422 naming the field."""
    url = f"{P}/whatsapp/phone_numbers"
    for number in ("1€", "1 2?x", "1\n", "12/messages", "abc"):
        refused = await world.api.post(url, json=number_body(number, "EAAG-token"))
        assert refused.status_code == 422, (number, refused.text)
        (problem,) = refused.json()["details"]
        assert problem["field"] == "whatsapp_phone_number.phone_number_id"
        assert "digits only" in problem["message"]
