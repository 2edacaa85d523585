"""Kapso's function payload: `{execution_context, flow_events, flow_info, whatsapp_context}`
(kapso-reference.md §3.5), built inside the advancing transaction and journaled."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from convoflow.clock import utc_iso
from convoflow.engine.step import StepRun
from convoflow.store.schema import conversations, execution_events, messages

RECENT_EVENTS = 20
RECENT_MESSAGES = 20


async def function_payload(
    run: StepRun, *, available_edges: list[str] | None = None
) -> dict[str, Any]:
    conn = run.advance.conn
    execution = run.execution
    result = await conn.execute(
        sa.select(execution_events.c.event_type, execution_events.c.payload)
        .where(execution_events.c.execution_id == execution.id)
        .order_by(execution_events.c.seq.desc())
        .limit(RECENT_EVENTS)
    )
    flow_events = [{"event_type": r.event_type, "payload": r.payload} for r in result][::-1]
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
    row = (
        (await conn.execute(sa.select(conversations).where(conversations.c.id == conversation_id)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    result = await conn.execute(
        sa.select(messages)
        .where(messages.c.conversation_id == conversation_id)
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        .limit(RECENT_MESSAGES)
    )
    recent = [_message_view(m) for m in result.mappings()][::-1]
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
