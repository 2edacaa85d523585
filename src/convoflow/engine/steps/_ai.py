"""Shared by the steps that ask a model (decide `ai`, AI fields): which provider model a
node names, and the recent conversation as chat turns."""

from __future__ import annotations

from typing import Any

from convoflow.engine.step import StepRun
from convoflow.store import messages as message_store
from convoflow.store import provider_models as model_store

# What the model is told when the conversation gives it no user turn to answer.
NO_USER_TURN = "(no message from the user yet)"


async def provider_model(run: StepRun) -> Any | str:
    """The provider model row the node names (`provider_model_id`, else
    `provider_model_name`, in the execution's project), or why there is none."""
    config = run.config
    model_id = getattr(config, "provider_model_id", None)
    name = getattr(config, "provider_model_name", None)
    project_id = run.execution.project_id
    conn = run.advance.conn
    if model_id:
        row = await model_store.get_model(conn, model_id, project_id)
        return row if row is not None else f"provider model {model_id} not found in this project"
    if name:
        row = await model_store.get_model_by_name(conn, name, project_id)
        return row if row is not None else f"no provider model named {name!r} in this project"
    return "no provider model configured: set provider_model_id or provider_model_name"


def _text(row: Any) -> str:
    content = row["content"] or {}
    text = content.get("text") or content.get("title") or content.get("caption") or ""
    return str(text) if text else f"[{row['message_type']}]"


async def conversation_turns(run: StepRun, limit: int) -> list[dict[str, str]]:
    """The conversation's last `limit` messages as user/assistant turns, oldest first;
    consecutive messages of one side joined (Anthropic wants the sides to alternate), and
    starting and ending with a user turn."""
    conversation_id = run.execution.conversation_id
    rows: list[Any] = []
    if conversation_id is not None and limit > 0:
        rows = await message_store.recent_messages(run.advance.conn, conversation_id, limit)
    turns: list[dict[str, str]] = []
    for row in rows:
        role = "user" if row["direction"] == "inbound" else "assistant"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n" + _text(row)
        else:
            turns.append({"role": role, "content": _text(row)})
    if turns and turns[0]["role"] == "assistant":
        opening = "(earlier messages not shown)" if len(rows) == limit else "(conversation start)"
        turns.insert(0, {"role": "user", "content": opening})
    if not turns or turns[-1]["role"] != "user":
        # No stored message (an API start or resume): the user's latest input, if any.
        latest = (run.scope.get("vars") or {}).get("last_user_input")
        text = latest if isinstance(latest, str) and latest.strip() else NO_USER_TURN
        turns.append({"role": "user", "content": text})
    return turns


def usage_of(result: dict[str, Any]) -> dict[str, Any]:
    """What a step event records of a model call."""
    return {
        "input_tokens": result.get("input_tokens"),
        "output_tokens": result.get("output_tokens"),
        "latency_ms": result.get("latency_ms"),
        "attempts": result.get("attempts"),
    }
