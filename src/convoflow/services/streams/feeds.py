"""What each live stream reads. Every feed is opened for the caller's project (another
project's id is NotFound before anything streams) and then reads on a connection of its
own per read.

Positions (the SSE ids a reconnect sends back as Last-Event-ID):
- an execution's stream: the `seq` of its last event (gap-free and allocated under the
  execution's lock, so resuming after it misses nothing and repeats nothing);
- a conversation's messages and the inbox: the newest `updated_at` sent, in microseconds
  since the epoch; a resume reads again from `follow.MARGIN` before it, so a message is
  sent at least once and the client keeps one copy per message id.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.graph.compiled import CompiledGraph
from convoflow.services.common import Actor, FieldProblem, invalid, read_in_project
from convoflow.services.conversations.sandbox_chat import sandbox_conversation
from convoflow.services.executions import reads
from convoflow.services.executions.commands import ExecutionInfo
from convoflow.services.process import Process
from convoflow.services.streams.follow import MAX_MICROS, Change, SeenSince, micros
from convoflow.services.whatsapp.inbox import ConversationItem, MessageItem
from convoflow.store import messages as message_store
from convoflow.store import streams as stream_store
from convoflow.store import whatsapp_queries as inbox_queries
from convoflow.store.streams import BATCH

# A conversation stream opened without a position starts with its latest messages.
INITIAL_MESSAGES = 100
# An event's seq is a 32-bit integer column: a Last-Event-ID past it names no event.
MAX_SEQ = 2**31 - 1


def checked_position(position: int | None, maximum: int) -> int | None:
    """The client's Last-Event-ID, refused (Invalid) before the stream opens when no
    event of this stream can have it: past the column's or the calendar's range, it
    would fail on the first read, after the 200 went out."""
    if position is not None and not 0 <= position <= maximum:
        problem = FieldProblem(
            "Last-Event-ID", f"{position} is not a position of this stream (0 to {maximum})"
        )
        raise invalid([problem])
    return position


@dataclass(frozen=True)
class ExecutionState:
    """The execution as its detail shows it, without the events (they stream apart)."""

    info: ExecutionInfo
    resumable_execution_id: str | None


@dataclass(frozen=True)
class EventItem:
    row: RowMapping
    version_id: str
    graph: CompiledGraph | None


class ExecutionFeed:
    """An execution's events after a `seq`, then its state whenever its row changed."""

    def __init__(self, engine: Process, actor: Actor, info: ExecutionInfo, after_seq: int) -> None:
        self.engine, self.actor = engine, actor
        self.execution_id = str(info.row["id"])
        self.version_id = str(info.row["version_id"])
        self.graph = info.graph
        self.seq = after_seq
        self.version: int | None = None

    async def read(self) -> list[Change]:
        async with self.engine.db.read() as conn:
            events = await stream_store.events_after(conn, self.execution_id, self.seq)
            version = await stream_store.execution_version(conn, self.execution_id)
            state = None
            if version != self.version:
                state = await _execution_state(conn, self.engine, self.actor, self.execution_id)
                self.version = version
        changes = []
        for row in events:
            self.seq = int(row["seq"])
            changes.append(Change("event", self.seq, EventItem(row, self.version_id, self.graph)))
        if state is not None:
            changes.append(Change("execution", self.seq, state))
        return changes


async def open_execution(
    engine: Process, actor: Actor, execution_id: str, after_seq: int | None
) -> ExecutionFeed:
    checked_position(after_seq, MAX_SEQ)
    info = await reads.get_info(engine, actor, execution_id)
    return ExecutionFeed(engine, actor, info, after_seq or 0)


async def _execution_state(
    conn: AsyncConnection, engine: Process, actor: Actor, execution_id: str
) -> ExecutionState:
    info = await reads.info_on(conn, engine, actor, execution_id)
    return ExecutionState(info, await reads.resumable_id(conn, info.row))


class MessageFeed:
    """A conversation's messages as they are written and as their status changes (value:
    `MessageItem`); with `with_execution`, also its newest root execution whenever that
    changes (the test chat's one stream: the bubbles, the status, the variables)."""

    def __init__(
        self,
        engine: Process,
        actor: Actor,
        conversation_id: str,
        position: int | None,
        *,
        with_execution: bool = False,
    ) -> None:
        self.engine, self.actor = engine, actor
        self.conversation_id = conversation_id
        position = checked_position(position, MAX_MICROS)
        self.seen = SeenSince(position) if position is not None else None
        self.with_execution = with_execution
        self.execution: tuple[str, int] | None = None

    async def read(self) -> list[Change]:
        async with self.engine.db.read() as conn:
            rows = await self._rows(conn)
            conversation = await message_store.get_conversation(conn, self.conversation_id)
            state = await self._execution(conn) if self.with_execution else None
        assert self.seen is not None
        changes = [
            Change("message", self.seen.position, MessageItem(row, conversation))
            for row in rows
            if self.seen.fresh(str(row["id"]), row["updated_at"])
        ]
        self.seen.forget_old()
        if state is not None:
            changes.append(Change("execution", self.seen.position, state))
        return changes

    async def _rows(self, conn: AsyncConnection) -> list[RowMapping]:
        if self.seen is None:
            rows = await message_store.recent_messages(conn, self.conversation_id, INITIAL_MESSAGES)
            newest = max((micros(row["updated_at"]) for row in rows), default=None)
            self.seen = SeenSince(newest if newest is not None else micros(self.engine.clock.now()))
            return rows
        rows = await stream_store.messages_since(conn, self.conversation_id, self.seen.since)
        while len(rows) >= BATCH and len(rows) < 10 * BATCH:
            # A burst wider than one read: go on from the last one read.
            more = await stream_store.messages_since(
                conn, self.conversation_id, rows[-1]["updated_at"]
            )
            known = {row["id"] for row in rows}
            added = [row for row in more if row["id"] not in known]
            if not added:
                break
            rows += added
        return rows

    async def _execution(self, conn: AsyncConnection) -> ExecutionState | None:
        latest = await stream_store.latest_root_version(conn, self.conversation_id)
        if latest is None or latest == self.execution:
            return None
        self.execution = latest
        return await _execution_state(conn, self.engine, self.actor, latest[0])


async def open_conversation(
    engine: Process, actor: Actor, conversation_id: str, position: int | None
) -> MessageFeed:
    """A WhatsApp (or any) conversation of the caller's project: its messages."""
    await read_in_project(
        engine.db, inbox_queries.get_conversation, "conversation", conversation_id, actor
    )
    return MessageFeed(engine, actor, conversation_id, position)


async def open_sandbox_chat(
    engine: Process, actor: Actor, conversation_id: str, position: int | None
) -> MessageFeed:
    """A test chat's conversation: its messages and its newest execution."""
    await sandbox_conversation(engine, actor, conversation_id)
    return MessageFeed(engine, actor, conversation_id, position, with_execution=True)


class InboxFeed:
    """The project's conversations that got a message (value: `ConversationItem`, with
    that last message), least recently active first."""

    def __init__(self, engine: Process, actor: Actor, position: int | None) -> None:
        self.engine, self.actor = engine, actor
        position = checked_position(position, MAX_MICROS)
        start = position if position is not None else micros(engine.clock.now())
        self.seen = SeenSince(start)

    async def read(self) -> list[Change]:
        async with self.engine.db.read() as conn:
            moved = await stream_store.conversations_with_messages_since(
                conn, self.actor.project_id, self.seen.since
            )
            fresh = [cid for cid, at in moved if self.seen.fresh(cid, at)]
            rows = {
                str(row["id"]): row for row in await stream_store.conversations_by_id(conn, fresh)
            }
            last = await inbox_queries.messages_by_id(
                conn, [row["last_message_id"] for row in rows.values() if row["last_message_id"]]
            )
        self.seen.forget_old()
        return [
            Change(
                "conversation",
                self.seen.position,
                ConversationItem(rows[cid], last.get(rows[cid]["last_message_id"])),
            )
            for cid in fresh
            if cid in rows
        ]
