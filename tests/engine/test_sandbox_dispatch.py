"""A sandbox (transactional channel) message is sent in the transaction that claims its
outbox row: one commit, not a claim and then a record. Killed before that commit,
nothing happened (the row is still pending, no message exists); after it, the message
exists once and the row is sent, so nothing is lost or repeated. Also: every commit
wakes whoever waits for a change (the live streams' pulse)."""

from __future__ import annotations

from convoflow.services.conversations import sandbox
from tests.support import Chat, chain, make_project, node


async def test_a_sandbox_send_is_one_commit(engine):
    flow = chain(
        node("start", "start"),
        node("one", "send_text", message="first"),
        node("two", "send_text", message="second"),
    )
    chat = await Chat.open(engine, flow, start=False)
    await sandbox.start(engine, chat.conversation_id)
    assert await chat.texts() == [], "queued in the outbox, not sent yet"

    committer = engine.runtime.committer
    before = committer.stats.commits
    sent = await engine.dispatcher.run_once()
    # The claim takes the head of the conversation's queue only (order is kept).
    assert sent == 1
    assert committer.stats.commits == before + 1
    assert await chat.texts() == ["first"]

    await engine.worker.drain()
    assert await chat.texts() == ["second"]
    assert await engine.dispatcher.run_once() == 0, "nothing is sent twice"


async def test_a_commit_wakes_whoever_waits_for_a_change(engine):
    """The live streams' pulse (services/streams/follow.py): set by every commit."""
    notifier = engine.runtime.notifier
    changed = notifier.next_change()
    assert not changed.is_set()
    await make_project(engine, "pulse")
    assert changed.is_set()
    assert not notifier.next_change().is_set(), "the next waiter waits for the next commit"
