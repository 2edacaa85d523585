"""A sandbox (transactional channel) message is sent in the transaction that claims its
outbox row: one commit, not a claim and then a record. Killed before that commit,
nothing happened (the row is still pending, no message exists); after it, the message
exists once and the row is sent, so nothing is lost or repeated. Also: every commit
wakes whoever waits for a change (the live streams' pulse)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from convoflow.services.conversations import sandbox
from convoflow.store.schema import projects
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


async def test_an_inline_send_is_counted_once_its_claim_commits(engine):
    """The claim shares a group commit with an operation that fails after writing: the
    batch rolls back and each operation runs again alone, the send with it. `sent` and
    the sends metric count the send once, after the commit that kept it (they counted
    the rolled-back run too, and the metric never counted sandbox sends)."""
    flow = chain(node("start", "start"), node("one", "send_text", message="first"))
    chat = await Chat.open(engine, flow, start=False)
    await sandbox.start(engine, chat.conversation_id)
    committer, dispatcher = engine.runtime.committer, engine.dispatcher
    sends = engine.runtime.metrics.sends.labels("sandbox", "sent")
    sent_before, counted_before = dispatcher.sent, sends._value.get()
    retried_before = committer.stats.retried_alone

    async def fails_after_writing(conn, _hooks):
        await conn.execute(sa.update(projects).where(projects.c.id == "none").values(name="x"))
        raise RuntimeError("taints the batch")

    async def nothing(_conn, _hooks):
        return None

    # Queued together, claim first: one batch on SQLite (one lane), [claim, failing]
    # on PostgreSQL (8 operations over 4 lanes: 2 per batch).
    results = await asyncio.gather(
        dispatcher.run_once(),
        committer.run(fails_after_writing),
        *(committer.run(nothing) for _ in range(6)),
        return_exceptions=True,
    )
    assert results[0] == 1 and isinstance(results[1], RuntimeError)
    assert committer.stats.retried_alone > retried_before, "the batch was retried"
    assert await chat.texts() == ["first"]
    assert dispatcher.sent == sent_before + 1
    assert sends._value.get() == counted_before + 1
