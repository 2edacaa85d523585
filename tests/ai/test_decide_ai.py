"""decide `ai` through the fake LLM over real HTTP, on SQLite and PostgreSQL: 20 labelled
utterances routed, the prompt the model gets, fallbacks (garbage answer, 500, timeout, no
model), and a journaled answer never asked again."""

from __future__ import annotations

from typing import Any

import pytest

from convoflow.clock import FakeClock
from convoflow.engine.jobs import handle_action
from convoflow.fakes.llm.rules import Rule
from convoflow.fakes.llm.server import FakeLLM
from convoflow.process import Process
from convoflow.services.ai import provider_models
from convoflow.services.common import Actor
from convoflow.store import actions as action_store
from tests.support import Chat, chat_payloads, edge, events, make_project, node

CONDITIONS = [
    {"label": "billing", "description": "invoices, charges, refunds, payments"},
    {"label": "shipping", "description": "where an order is, delivery times"},
    {"label": "returns", "description": "sending a product back, exchanges"},
    {"label": "human", "description": "the user asks for a person"},
]
# (utterance, expected label): the fake answers like a model would, in varied forms.
UTTERANCES = [
    ("I was charged twice this month", "billing"),
    ("Can I get a refund for my last invoice?", "billing"),
    ("my card payment failed", "billing"),
    ("please send me the invoice", "billing"),
    ("why is my bill so high", "billing"),
    ("where is my order?", "shipping"),
    ("when will the package arrive", "shipping"),
    ("tracking number please", "shipping"),
    ("is delivery free to Lima", "shipping"),
    ("my parcel is late", "shipping"),
    ("I want to return these shoes", "returns"),
    ("can I exchange the size", "returns"),
    ("the product is broken, send it back", "returns"),
    ("how do returns work", "returns"),
    ("wrong colour, I need an exchange", "returns"),
    ("let me talk to a person", "human"),
    ("I want a human agent", "human"),
    ("call me please, real person", "human"),
    ("operator!", "human"),
    ("can someone from support talk to me", "human"),
]
RULES = [
    Rule(regex=r"charged|refund|payment|invoice|bill", reply="billing"),
    Rule(regex=r"order|arrive|tracking|delivery", reply="Shipping."),
    Rule(regex=r"parcel", reply='"shipping"'),
    Rule(regex=r"return|exchange|back", reply="returns\nBecause the user wants to send it back."),
    Rule(regex=r"person|human|operator|support", reply="HUMAN"),
    Rule(contains="garbage", reply="I am not sure what you mean"),
    Rule(contains="explode", status=500),
    Rule(contains="slow", delay=1.0, reply="billing"),
]


def routing_flow(**decide: Any) -> dict[str, Any]:
    """ask -> wait -> route -> one send_text per label -> back to wait (one conversation)."""
    config = {
        "decision_type": "ai",
        "conditions": CONDITIONS,
        "provider_model_name": "fake",
        "llm_temperature": 0.1,
        "llm_max_tokens": 20,
        "llm_history_messages": 4,
        **decide,
    }
    nodes = [
        node("start", "start"),
        node("ask", "send_text", message="How can I help?"),
        node("wait", "wait_for_response"),
        node("route", "decide", **config),
    ]
    edges = [edge("start", "ask"), edge("ask", "wait"), edge("wait", "route")]
    for condition in CONDITIONS:
        label = condition["label"]
        nodes.append(node(f"say_{label}", "send_text", message=f"took {label}"))
        edges += [edge("route", f"say_{label}", label), edge(f"say_{label}", "wait")]
    return {"nodes": nodes, "edges": edges}


async def _chat(
    engine: Process,
    url: str,
    kind: str = "openai",
    *,
    by_id: bool = False,
    model_timeout: float = 5.0,
    **decide: Any,
) -> Chat:
    # A generous model timeout: on a loaded machine the fake's answer can take longer than
    # 0.2 s, and a timed-out call is retried only when the test moves the clock. The
    # fallback test asks for a short one, to time out on its slow rule.
    project_id = await make_project(engine)
    base = f"{url}/v1" if kind == "openai" else url
    fields = provider_models.ModelFields(
        name="fake", provider=kind, base_url=base, api_key="sk-fake", timeout_seconds=model_timeout
    )
    model = await provider_models.create(engine, Actor(project_id=project_id), fields)
    if by_id:
        decide.update(provider_model_name=None, provider_model_id=model["id"])
    chat = await Chat.open(engine, routing_flow(**decide), project_id=project_id)
    assert await chat.texts() == ["How can I help?"]
    return chat


async def retry_until_settled(engine: Process, clock: FakeClock) -> None:
    """Failed model calls are retried by rescheduled jobs: move the clock past them."""
    for _ in range(5):
        clock.advance(60)
        await engine.worker.drain()


async def _decisions(engine: Process, chat: Chat) -> list[dict[str, Any]]:
    return await chat_payloads(engine, chat, "decision_evaluated")


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_twenty_utterances_are_routed(
    kind: str, engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(RULES)
    chat = await _chat(engine, url, kind)
    for utterance, label in UTTERANCES:
        assert await chat.say(utterance) == [{"type": "text", "text": f"took {label}"}], utterance
    decisions = await _decisions(engine, chat)
    assert [d["selected"] for d in decisions] == [label for _, label in UTTERANCES]
    assert {d["reason"] for d in decisions} == {"matched"}
    first = decisions[0]
    assert first["provider_model"] == "fake" and first["attempts"] == 1
    assert first["input_tokens"] > 0 and first["output_tokens"] == 1
    assert first["latency_ms"] is not None and first["answer"] == "billing"
    # What the model got: the conditions, the last 4 messages, the node's settings.
    body = fake.requests[-1]["body"]
    assert fake.requests[-1]["api"] == kind
    assert (body["temperature"], body["max_tokens"]) == (0.1, 20)
    system = body["system"] if kind == "anthropic" else body["messages"][0]["content"]
    assert "- returns: sending a product back, exchanges" in system
    turns = body["messages"] if kind == "anthropic" else body["messages"][1:]
    assert turns[-1] == {"role": "user", "content": UTTERANCES[-1][0]}
    # The last 4 messages (bot, user, bot, user), opened by a user turn as Anthropic wants.
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant", "user"]
    assert turns[0]["content"] == "(earlier messages not shown)"
    assert turns[3]["content"] == f"took {UTTERANCES[-2][1]}"


async def test_fallbacks_take_the_first_condition_and_say_why(
    engine: Process, clock: FakeClock, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(RULES)
    chat = await _chat(engine, url, model_timeout=0.2)
    for utterance in ("garbage in", "explode now", "slow answer"):
        said = await chat.say(utterance)
        await retry_until_settled(engine, clock)
        assert said + await chat.bot() == [{"type": "text", "text": "took billing"}]
    garbage, failed, timed_out = await _decisions(engine, chat)
    for decision in (garbage, failed, timed_out):
        assert (decision["selected"], decision["reason"]) == ("billing", "fallback")
    assert "'I am not sure what you mean', not one of the conditions" in garbage["why"]
    assert failed["attempts"] == 3 and "HTTP 500" in failed["why"]
    assert timed_out["attempts"] == 3 and "Timeout" in timed_out["why"]


async def test_no_model_falls_back(engine: Process, llm: tuple[FakeLLM, str]) -> None:
    _, url = llm
    chat = await _chat(engine, url, provider_model_name="missing")
    assert await chat.say("I was charged twice") == [{"type": "text", "text": "took billing"}]
    [decision] = await _decisions(engine, chat)
    assert decision["reason"] == "fallback"
    assert "no provider model named 'missing' in this project" in decision["why"]


async def test_model_by_id_and_a_journaled_answer_is_not_asked_again(
    engine: Process, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    fake.script.replace(RULES)
    chat = await _chat(engine, url, by_id=True)
    assert await chat.say("where is my order?") == [{"type": "text", "text": "took shipping"}]
    asked = len(fake.requests)
    # The action job runs again for the same key (a worker that lost its lease, a crash
    # after the commit): the journal holds the answer, so the model is not asked again.
    execution = await chat.execution()
    executing = [
        e for e in await events(engine, execution["id"]) if e["event_type"] == "action_executing"
    ]
    key = executing[-1]["payload"]["key"]
    async with engine.db.read() as conn:
        journal = await action_store.get_journal(conn, key)
    assert journal is not None and journal["status"] != "pending" and journal["kind"] == "llm"
    assert journal["result"]["text"] == "Shipping."
    assert "sk-fake" not in repr(dict(journal))  # the key is never journaled
    await handle_action(
        engine.runtime,
        {"id": 987654321, "payload": {"key": key}, "attempts": 1, "expected_version": None},
    )
    assert len(fake.requests) == asked
    assert len(await _decisions(engine, chat)) == 1
