"""function: project functions of type `http` receive Kapso's payload; `vars` merge."""

from __future__ import annotations

from tests.support import Chat, chain, events, make_http_function, make_project, node


async def test_function_gets_kapso_payload_and_vars_are_merged(engine, http_server):
    http_server.replies = [(200, {"vars": {"score": 42, "name": "Ana B."}, "note": "ok"})]
    project_id = await make_project(engine, allow_private_network=True)
    function_id = await make_http_function(
        engine, project_id, f"{http_server.url}/fn", name="scorer"
    )
    flow = chain(
        node("start", "start"),
        node("hello", "send_text", message="hi {{vars.name}}"),
        node("wait", "wait_for_response"),
        node("fn", "function", function_id=function_id, save_response_to="fn_result"),
        node("after", "send_text", message="{{vars.name}} scored {{vars.score}}"),
    )
    chat = await Chat.open(engine, flow, project_id=project_id, variables={"name": "Ana"})
    assert await chat.texts() == ["hi Ana"]
    assert [m["text"] for m in await chat.say("score me")] == ["Ana B. scored 42"]
    execution = await chat.execution()
    assert execution["status"] == "ended"
    variables = execution["context"]["vars"]
    assert variables["score"] == 42
    assert variables["fn_result"] == {"vars": {"score": 42, "name": "Ana B."}, "note": "ok"}

    [request] = http_server.requests
    assert (request.method, request.path) == ("POST", "/fn")
    assert request.headers["idempotency-key"].startswith(f"{execution['id']}:fn:")
    payload = request.json
    assert set(payload) == {"execution_context", "flow_events", "flow_info", "whatsapp_context"}
    assert payload["execution_context"]["vars"]["name"] == "Ana"
    assert payload["execution_context"]["vars"]["last_user_input"] == "score me"
    assert payload["execution_context"]["system"]["execution_id"] == execution["id"]
    assert payload["flow_info"]["id"] == chat.workflow_id
    assert payload["flow_info"]["step_id"] == "fn"
    assert payload["flow_info"]["execution_id"] == execution["id"]
    # The latest events, including this advance's own (not yet committed) ones.
    flow_event_types = [e["event_type"] for e in payload["flow_events"]]
    assert flow_event_types[0] == "execution_started"
    assert flow_event_types[-3:] == ["user_input_received", "step_completed", "step_entered"]
    whatsapp = payload["whatsapp_context"]
    assert whatsapp["conversation"]["id"] == chat.conversation_id
    assert [(m["direction"], m["content"]) for m in whatsapp["messages"]] == [
        ("outbound", "hi Ana"),
        ("inbound", "score me"),
    ]

    merged = [
        e["payload"]
        for e in await events(engine, execution["id"])
        if e["event_type"] == "variables_set"
    ]
    assert {"variables": ["name", "score"], "source": "function"} in merged


async def test_function_error_fails_the_execution(engine, http_server):
    http_server.replies = [(400, {"error": "bad input"})]
    project_id = await make_project(engine, allow_private_network=True)
    function_id = await make_http_function(engine, project_id, http_server.url)
    flow = chain(
        node("start", "start"),
        node("fn", "function", function_id=function_id),
        node("after", "send_text", message="must not be sent"),
    )
    chat = await Chat.open(engine, flow, project_id=project_id)
    execution = await chat.execution()
    assert execution["status"] == "failed"
    assert execution["error_details"]["step_identifier"] == "fn"
    assert execution["error_details"]["status"] == 400
    assert function_id in execution["error_details"]["message"]
    assert await chat.texts() == []


async def test_unknown_function_fails_with_a_clear_error(engine):
    flow = chain(node("start", "start"), node("fn", "function", function_id="no-such-fn"))
    chat = await Chat.open(engine, flow)
    execution = await chat.execution()
    assert execution["status"] == "failed"
    assert execution["error_details"]["message"] == "function no-such-fn not found in this project"
