"""An agent's conversation with its model, journaled append-only.

Each agent turn's journaled `llm` request carries only what is new since the previous
turn (`messages`: the tool results, what the user wrote) and `earlier`: which earlier
turns come before it (`{"prefix": "<step key>:turn:", "first": f, "last": l}`). The
model's answer to a turn is that turn's journaled result. So the whole conversation is,
for each turn t in first..last, t's new messages and then t's answer, followed by this
turn's new messages — rebuilt from the journal, where it is durable, whenever this
process does not already hold it (after a restart, or when another worker made the
previous turn). Writing the whole conversation on every turn (on the cursor and in the
journal) made a turn's cost grow with the conversation.

`ConversationCache` keeps, per agent visit, the conversation as of its last turn this
process both asked and committed the answer of; a turn only uses it when it ends exactly
at the previous turn, and an answer is remembered only after its journal row completed
(`answered`), so the cache never holds what the journal does not.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.engine.llm.model import Message, ToolCall
from convoflow.store import actions as action_store

DEFAULT_SIZE = 512  # agent visits remembered per process (least recently used dropped)


class ConversationLost(Exception):
    """An earlier turn is missing from the journal or was never answered."""


def message_of(data: dict[str, Any]) -> Message:
    """A journaled chat turn (`role`, `content`; an assistant's `tool_calls`, a tool
    result's `tool_call_id`) as the clients' Message."""
    calls = tuple(ToolCall(**call) for call in data.get("tool_calls") or [])
    return Message(data["role"], data.get("content") or "", calls, data.get("tool_call_id"))


def answer_message(result: dict[str, Any]) -> Message:
    """The assistant turn a journaled (successful) answer adds to the conversation."""
    calls = tuple(ToolCall(**call) for call in result.get("tool_calls") or [])
    return Message("assistant", str(result.get("text") or ""), calls)


def earlier_of(prefix: str, first: int, last: int) -> dict[str, Any] | None:
    """The `earlier` reference of a turn (None: the turn starts the conversation)."""
    return {"prefix": prefix, "first": first, "last": last} if last >= first else None


class ConversationCache:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        # prefix -> (first turn, last answered turn, the conversation through its answer)
        self._done: OrderedDict[str, tuple[int, int, tuple[Message, ...]]] = OrderedDict()
        # turn key -> (prefix, first, turn, the conversation it was asked with)
        self._asked: OrderedDict[str, tuple[str, int, int, tuple[Message, ...]]] = OrderedDict()

    async def messages(self, conn: AsyncConnection, request: dict[str, Any]) -> tuple[Message, ...]:
        """The whole conversation a journaled request asks the model to continue."""
        new = tuple(message_of(m) for m in request.get("messages") or [])
        earlier = request.get("earlier")
        if not earlier:
            return new
        prefix, first, last = str(earlier["prefix"]), int(earlier["first"]), int(earlier["last"])
        held = self._done.get(prefix)
        if held is not None and held[:2] == (first, last):
            self._done.move_to_end(prefix)
            history = held[2]
        else:
            history = await rebuild(conn, prefix, first, last)
        messages = history + new
        self._remember(
            self._asked, str(request["idempotency_key"]), (prefix, first, last + 1, messages)
        )
        return messages

    def answered(self, key: str, result: dict[str, Any]) -> None:
        """The turn `key`'s answer is committed to the journal: its conversation, with the
        answer, is what the next turn continues."""
        asked = self._asked.pop(key, None)
        if asked is None or not result.get("ok"):
            return
        prefix, first, turn, messages = asked
        self._remember(self._done, prefix, (first, turn, (*messages, answer_message(result))))

    def _remember(self, entries: OrderedDict[str, Any], key: str, value: Any) -> None:
        entries[key] = value
        entries.move_to_end(key)
        while len(entries) > self.size:
            entries.popitem(last=False)


async def rebuild(conn: AsyncConnection, prefix: str, first: int, last: int) -> tuple[Message, ...]:
    """Turns first..last of the agent visit `prefix`, each one's new messages and answer."""
    keys = [f"{prefix}{turn}" for turn in range(first, last + 1)]
    rows = {row["idempotency_key"]: row for row in await action_store.get_journals(conn, keys)}
    out: list[Message] = []
    for key in keys:
        row = rows.get(key)
        if row is None or row["status"] != "done" or not (row["result"] or {}).get("ok"):
            raise ConversationLost(f"turn {key} is not answered in the journal")
        out.extend(message_of(m) for m in row["request"].get("messages") or [])
        out.append(answer_message(row["result"]))
    return tuple(out)
