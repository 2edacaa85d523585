"""start, send_text (with a durable delay), send_template, send_interactive."""

from __future__ import annotations

from convoflow.store.schema import jobs, outbox
from tests.support import Chat, chain, events, node, table_rows


async def test_start_then_send_text_renders_variables_and_ends(engine):
    flow = chain(
        node("start", "start"),
        node("hello", "send_text", message="Hello {{vars.name}}, you are {{vars.age}}"),
        node("bye", "send_text", message="Bye {{name}}"),
    )
    chat = await Chat.open(engine, flow, variables={"name": "Ana", "age": 30})
    assert await chat.texts() == ["Hello Ana, you are 30", "Bye Ana"]
    execution = await chat.execution()
    assert execution["status"] == "ended"
    assert execution["current_node_id"] == "bye"
    rows = await table_rows(engine, outbox, execution_id=execution["id"])
    assert sorted(r["message"]["text"] for r in rows) == ["Bye Ana", "Hello Ana, you are 30"]
    assert all(r["status"] == "sent" and r["channel"] == "sandbox" for r in rows)
    assert all(r["message"]["type"] == "text" for r in rows)


async def test_start_node_with_any_id_only_moves_on(engine):
    flow = chain(node("begin", "start"), node("only", "send_text", message="hi"))
    chat = await Chat.open(engine, flow)
    assert await chat.texts() == ["hi"]
    execution = await chat.execution()
    kinds = [(e["node_id"], e["event_type"]) for e in await events(engine, execution["id"])]
    assert ("begin", "step_entered") in kinds
    assert ("begin", "step_completed") in kinds


async def test_send_text_delay_is_a_durable_timer(engine, clock):
    flow = chain(
        node("start", "start"),
        node("now", "send_text", message="right away"),
        node("later", "send_text", message="after a minute", delay_seconds=60),
        node("last", "send_text", message="and done"),
    )
    chat = await Chat.open(engine, flow)
    assert await chat.texts() == ["right away"]
    execution = await chat.execution()
    assert execution["status"] == "running"
    assert execution["current_node_id"] == "later"
    timers = await table_rows(engine, jobs, execution_id=execution["id"])
    assert [(t["kind"], t["payload"]["purpose"]) for t in timers] == [("timer", "delay")]
    assert (timers[0]["run_at"] - clock.now()).total_seconds() == 60

    await engine.worker.drain()  # nothing is due yet
    assert await chat.texts() == []
    clock.advance(59)
    await engine.worker.drain()
    assert await chat.texts() == []
    assert (await chat.execution())["status"] == "running"

    clock.advance(1)
    await engine.worker.drain()
    assert await chat.texts() == ["after a minute", "and done"]
    assert (await chat.execution())["status"] == "ended"
    assert await table_rows(engine, jobs, execution_id=execution["id"]) == []


async def test_send_template_renders_parameters(engine):
    flow = chain(
        node("start", "start"),
        node(
            "tpl",
            "send_template",
            template_id="tmpl_1",
            template_name="order_update",
            parameters={"1": "{{vars.name}}", "2": "{{vars.order}}"},
            language="es",
        ),
    )
    chat = await Chat.open(engine, flow, variables={"name": "Ana", "order": "A-7"})
    [message] = await chat.bot()
    assert message["type"] == "template"
    assert message["template"] == {
        "id": "tmpl_1",
        "name": "order_update",
        "parameters": {"1": "Ana", "2": "A-7"},
        "language": "es",
    }
    assert (await chat.execution())["status"] == "ended"


async def test_send_interactive_buttons(engine):
    flow = chain(
        node("start", "start"),
        node(
            "menu",
            "send_interactive",
            interactive_type="button",
            header_type="text",
            header_text="Hi {{vars.name}}",
            body_text="Pick one, {{vars.name}}",
            footer_text="footer",
            buttons=[{"id": "a", "title": "Alpha"}, {"id": "b", "title": "Beta {{vars.n}}"}],
        ),
        node("wait", "wait_for_response"),
    )
    chat = await Chat.open(engine, flow, variables={"name": "Ana", "n": 2})
    [message] = await chat.bot()
    assert message["type"] == "interactive"
    interactive = message["interactive"]
    assert interactive["interactive_type"] == "button"
    assert interactive["header_type"] == "text"
    assert interactive["header_text"] == "Hi Ana"
    assert interactive["body_text"] == "Pick one, Ana"
    assert interactive["footer_text"] == "footer"
    assert interactive["buttons"] == [{"id": "a", "title": "Alpha"}, {"id": "b", "title": "Beta 2"}]
    assert "ai_field_config" not in interactive
    assert (await chat.execution())["status"] == "waiting"


async def test_send_interactive_list(engine):
    sections = [
        {
            "title": "Fruit",
            "rows": [
                {"id": "apple", "title": "Apple", "description": "red"},
                {"id": "pear", "title": "Pear"},
            ],
        },
        {"title": "Veg", "rows": [{"id": "leek", "title": "Leek"}]},
    ]
    flow = chain(
        node("start", "start"),
        node(
            "menu",
            "send_interactive",
            interactive_type="list",
            body_text="Choose",
            list_button_text="Open",
            list_sections=sections,
        ),
    )
    chat = await Chat.open(engine, flow)
    [message] = await chat.bot()
    interactive = message["interactive"]
    assert interactive["interactive_type"] == "list"
    assert interactive["body_text"] == "Choose"
    assert interactive["list_button_text"] == "Open"
    assert interactive["list_sections"] == sections


async def test_send_interactive_cta_url(engine):
    flow = chain(
        node("start", "start"),
        node(
            "cta",
            "send_interactive",
            interactive_type="cta_url",
            body_text="Your order",
            cta_display_text="Track",
            cta_url="https://example.com/track/{{vars.order}}",
        ),
    )
    chat = await Chat.open(engine, flow, variables={"order": "A-7"})
    [message] = await chat.bot()
    interactive = message["interactive"]
    assert interactive["interactive_type"] == "cta_url"
    assert interactive["cta_display_text"] == "Track"
    assert interactive["cta_url"] == "https://example.com/track/A-7"
    [row] = await table_rows(engine, outbox, execution_id=(await chat.execution())["id"])
    assert row["message"] == message


async def test_missing_template_variable_renders_empty_with_a_warning_event(engine):
    flow = chain(node("start", "start"), node("hi", "send_text", message="Hi {{vars.nobody}}!"))
    chat = await Chat.open(engine, flow)
    assert await chat.texts() == ["Hi !"]
    execution = await chat.execution()
    [warning] = [
        e
        for e in await events(engine, execution["id"])
        if e["event_type"] == "template_variables_missing"
    ]
    assert warning["node_id"] == "hi"
    assert warning["payload"]["field"] == "message"
    assert execution["status"] == "ended"
