"""wait_for_response: input variables, timeouts (a 7-day one), late timers, busy input."""

from __future__ import annotations

from convoflow.services.conversations import sandbox
from convoflow.store.schema import jobs, messages
from tests.support import Chat, chain, edge, events, insert_row, node, table_rows


def ask_flow(**wait_config):
    return chain(
        node("start", "start"),
        node("ask", "send_text", message="Name?"),
        node("wait", "wait_for_response", **wait_config),
        node("reply", "send_text", message="Hi {{vars.last_user_input}}"),
    )


async def test_reply_sets_input_variables_and_last_resume(engine, clock):
    chat = await Chat.open(engine, ask_flow(save_response_to="name"))
    assert await chat.texts() == ["Name?"]
    waiting = await chat.execution()
    assert (waiting["status"], waiting["waiting_reason"]) == ("waiting", "wait_for_response")
    assert waiting["current_node_id"] == "wait"
    assert waiting["context"]["system"]["last_resume"] is None

    clock.advance(5)
    assert [m["text"] for m in await chat.say("Ana")] == ["Hi Ana"]
    done = await chat.execution()
    assert done["status"] == "ended"
    assert done["waiting_reason"] is None
    variables = done["context"]["vars"]
    assert variables["last_user_input"] == "Ana"
    assert variables["name"] == "Ana"
    assert variables["last_user_message"]["type"] == "text"
    assert variables["last_user_message"]["text"] == "Ana"
    last_resume = done["context"]["system"]["last_resume"]
    assert last_resume["reason"] == "user_input"
    assert last_resume["at"] == "2026-01-01T12:00:05.000000Z"
    received = [
        e for e in await events(engine, done["id"]) if e["event_type"] == "user_input_received"
    ]
    assert len(received) == 1
    assert received[0]["payload"]["input"] == "Ana"
    assert received[0]["direction"] == "inbound"
    assert received[0]["node_id"] == "wait"


async def test_timeout_takes_next_with_reason_timeout(engine, clock):
    chat = await Chat.open(engine, ask_flow(has_timeout=True, timeout_seconds=60))
    await chat.bot()
    clock.advance(59)
    await engine.worker.drain()
    assert (await chat.execution())["status"] == "waiting"

    clock.advance(1)
    await engine.worker.drain()
    execution = await chat.execution()
    assert execution["status"] == "ended"
    assert execution["context"]["system"]["last_resume"]["reason"] == "timeout"
    assert "last_user_input" not in execution["context"]["vars"]
    assert await chat.texts() == ["Hi "]
    kinds = [e["event_type"] for e in await events(engine, execution["id"])]
    assert kinds.count("wait_timeout") == 1
    assert "user_input_received" not in kinds


async def test_seven_day_wait_times_out_only_after_seven_days(engine, clock):
    flow = {
        "nodes": [
            node("start", "start"),
            node("wait", "wait_for_response", has_timeout=True, timeout_seconds=604800),
            node("answered", "send_text", message="thanks"),
        ],
        "edges": [edge("start", "wait"), edge("wait", "answered")],
    }
    chat = await Chat.open(engine, flow)
    execution = await chat.execution()
    [timer] = await table_rows(engine, jobs, execution_id=execution["id"])
    assert (timer["run_at"] - clock.now()).total_seconds() == 604800

    clock.advance(604799)
    await engine.worker.drain()
    assert (await chat.execution())["status"] == "waiting"
    assert await chat.texts() == []

    clock.advance(1)
    await engine.worker.drain()
    execution = await chat.execution()
    assert execution["status"] == "ended"
    assert execution["context"]["system"]["last_resume"]["reason"] == "timeout"
    assert execution["context"]["system"]["last_resume"]["at"] == "2026-01-08T12:00:00.000000Z"
    assert await chat.texts() == ["thanks"]
    [timeout] = [
        e for e in await events(engine, execution["id"]) if e["event_type"] == "wait_timeout"
    ]
    assert timeout["payload"]["timeout_seconds"] == 604800


async def test_reply_cancels_the_timeout(engine, clock):
    chat = await Chat.open(engine, ask_flow(has_timeout=True, timeout_seconds=60))
    execution = await chat.execution()
    assert len(await table_rows(engine, jobs, execution_id=execution["id"])) == 1
    await chat.say("Ana")
    assert await table_rows(engine, jobs, execution_id=execution["id"]) == []
    clock.advance(3600)
    await engine.worker.drain()
    after = await chat.execution()
    assert after["context"]["system"]["last_resume"]["reason"] == "user_input"
    assert "wait_timeout" not in [e["event_type"] for e in await events(engine, after["id"])]


async def test_a_late_timer_after_a_reply_is_a_no_op(engine, clock):
    """A timer claimed just before the reply committed still fires afterwards: its
    expected_version and key are stale, so it must change nothing."""
    flow = {
        "nodes": [
            node("start", "start"),
            node("wait", "wait_for_response", has_timeout=True, timeout_seconds=60),
            node("again", "wait_for_response", has_timeout=True, timeout_seconds=600),
            node("end", "send_text", message="end"),
        ],
        "edges": [edge("start", "wait"), edge("wait", "again"), edge("again", "end")],
    }
    chat = await Chat.open(engine, flow)
    execution = await chat.execution()
    [timer] = await table_rows(engine, jobs, execution_id=execution["id"])
    await chat.say("first")
    parked = await chat.execution()
    assert parked["current_node_id"] == "again"

    # Resurrect the first wait's timer (as if a worker had leased it before the reply).
    stale = {k: v for k, v in timer.items() if k != "id"}
    stale["dedupe_key"] = "stale-copy"
    await insert_row(engine, jobs, stale)
    clock.advance(61)
    await engine.worker.drain()

    after = await chat.execution()
    assert after["status"] == "waiting"
    assert after["current_node_id"] == "again"
    assert after["version"] == parked["version"]
    assert after["event_seq"] == parked["event_seq"]
    assert after["context"]["system"]["last_resume"]["reason"] == "user_input"
    assert await chat.texts() == []
    # The stale job is gone, the live timer of the second wait is still there.
    remaining = await table_rows(engine, jobs, execution_id=execution["id"])
    assert [j["dedupe_key"] for j in remaining] != ["stale-copy"]
    assert len(remaining) == 1

    clock.advance(600)
    await engine.worker.drain()
    assert await chat.texts() == ["end"]


async def test_messages_during_a_delay_answer_the_next_waits_in_order(engine, clock):
    flow = chain(
        node("start", "start"),
        node("slow", "send_text", message="thinking...", delay_seconds=30),
        node("w1", "wait_for_response", save_response_to="a"),
        node("r1", "send_text", message="a={{vars.a}}"),
        node("w2", "wait_for_response", save_response_to="b"),
        node("r2", "send_text", message="b={{vars.b}}"),
    )
    chat = await Chat.open(engine, flow)
    assert await chat.texts() == []
    assert (await chat.execution())["status"] == "running"

    assert await chat.say("one") == []  # busy: the message waits, nothing is answered
    execution = await chat.execution()
    assert execution["current_node_id"] == "slow"
    [pending] = await table_rows(engine, messages, conversation_id=chat.conversation_id)
    assert pending["routing"] == "pending"

    clock.advance(30)
    await engine.worker.drain()
    assert await chat.texts() == ["thinking...", "a=one"]
    execution = await chat.execution()
    assert (execution["status"], execution["current_node_id"]) == ("waiting", "w2")

    assert [m["text"] for m in await chat.say("two")] == ["b=two"]
    assert (await chat.execution())["status"] == "ended"
    inbound = await table_rows(engine, messages, conversation_id=chat.conversation_id)
    assert {m["routing"] for m in inbound if m["direction"] == "inbound"} == {"consumed"}


async def test_a_burst_of_pending_messages_is_joined_with_newlines(engine, clock):
    flow = chain(
        node("start", "start"),
        node("slow", "send_text", message="one moment", delay_seconds=10),
        node("wait", "wait_for_response", save_response_to="said"),
        node("echo", "send_text", message="you said: {{vars.said}}"),
    )
    chat = await Chat.open(engine, flow)
    for text in ("first", "second", "third"):
        await chat.say(text)
    clock.advance(10)
    await engine.worker.drain()
    assert await chat.texts() == ["one moment", "you said: first\nsecond\nthird"]
    execution = await chat.execution()
    assert execution["context"]["vars"]["said"] == "first\nsecond\nthird"
    assert execution["context"]["vars"]["last_user_message"]["text"] == "third"


async def test_a_burst_while_waiting_is_one_input(engine):
    chat = await Chat.open(engine, ask_flow(save_response_to="name"))
    await chat.bot()
    for text in ("Ana", "Maria"):
        await sandbox.say(engine, chat.conversation_id, text)  # no drain in between
    await engine.worker.drain()
    assert await chat.texts() == ["Hi Ana\nMaria"]
    execution = await chat.execution()
    received = [
        e for e in await events(engine, execution["id"]) if e["event_type"] == "user_input_received"
    ]
    assert len(received) == 1
    assert len(received[0]["payload"]["message_ids"]) == 2


async def test_button_reply_input_is_the_option_title(engine):
    flow = chain(
        node("start", "start"),
        node(
            "menu",
            "send_interactive",
            interactive_type="button",
            body_text="Pick",
            buttons=[{"id": "a", "title": "Alpha"}, {"id": "b", "title": "Beta"}],
        ),
        node("wait", "wait_for_response", save_response_to="choice"),
        node("echo", "send_text", message="{{vars.choice}} ({{vars.last_user_message.id}})"),
    )
    chat = await Chat.open(engine, flow)
    [menu] = await chat.bot()
    await sandbox.say(engine, chat.conversation_id, "beta", last_bot_message=menu)
    await engine.worker.drain()
    assert await chat.texts() == ["Beta (b)"]
    message = (await chat.execution())["context"]["vars"]["last_user_message"]
    assert (message["type"], message["id"], message["title"]) == ("interactive", "b", "Beta")
    assert message["interactive_type"] == "button_reply"
