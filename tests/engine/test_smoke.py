from __future__ import annotations

from tests.support import Chat, example


async def test_canonical_flow_adult(engine):
    chat = await Chat.open(engine, example("canonical"))
    assert await chat.texts() == ["Hi! Before we start: how old are you?"]
    execution = await chat.execution()
    assert execution["status"] == "waiting"
    assert execution["waiting_reason"] == "wait_for_response"
    replies = await chat.say("42")
    assert [m["text"] for m in replies] == ["Thanks! You are 42, so you're in the adult group."]
    execution = await chat.execution()
    assert execution["status"] == "ended"
    assert execution["context"]["vars"]["segment"] == "adult"
