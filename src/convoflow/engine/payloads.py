"""Kapso's function payload: `{execution_context, flow_events, flow_info, whatsapp_context}`
(kapso-reference.md §3.5), built inside the advancing transaction and journaled."""

from __future__ import annotations

from typing import Any

from convoflow.clock import utc_iso
from convoflow.engine.step import StepRun
from convoflow.store import executions as execution_store
from convoflow.store import messages as message_store

RECENT_EVENTS = 20
RECENT_MESSAGES = 20


async def function_payload(
    run: StepRun, *, available_edges: list[str] | None = None
) -> dict[str, Any]:
    conn = run.advance.conn
    execution = run.execution
    stored = await execution_store.recent_events(conn, execution.id, RECENT_EVENTS)
    flow_events = [{"event_type": r.event_type, "payload": r.payload} for r in stored]
    flow_events += [
        {"event_type": e["event_type"], "payload": e["payload"]}
        for e in run.advance.unflushed_events(execution.id)
    ]
    flow_events = flow_events[-RECENT_EVENTS:]
    payload: dict[str, Any] = {
        "execution_context": execution.context,
        "flow_events": flow_events,
        "flow_info": {
            "id": execution.workflow_id,
            "name": execution.system.get("flow_name"),
            "step_id": run.node.id,
            "execution_id": execution.id,
        },
        "whatsapp_context": await _whatsapp_context(run),
    }
    if available_edges is not None:
        payload["available_edges"] = available_edges
    return payload


async def _whatsapp_context(run: StepRun) -> dict[str, Any] | None:
    conversation_id = run.execution.conversation_id
    if conversation_id is None:
        return None
    conn = run.advance.conn
    row = await message_store.get_conversation(conn, conversation_id)
    if row is None:
        return None
    stored = await message_store.recent_messages(conn, conversation_id, RECENT_MESSAGES)
    recent = [_message_view(m) for m in stored]
    return {
        "conversation": {
            "id": row["id"],
            "phone_number": row["phone_number"],
            "phone_number_id": row["phone_number_id"],
            "status": row["status"],
        },
        "messages": recent,
    }


def _message_view(row: Any) -> dict[str, Any]:
    content = row["content"] or {}
    return {
        "message_type": row["message_type"],
        "content": content.get("text") or content.get("title") or content.get("caption"),
        "direction": row["direction"],
        "whatsapp_message_id": row["provider_message_id"],
        "has_media": bool(content.get("media_id")),
        "reply_option_id": content.get("id") if row["message_type"] == "interactive" else None,
        "reply_option_title": content.get("title"),
        "interactive_type": content.get("interactive_type"),
        "created_at": utc_iso(row["created_at"]),
    }
