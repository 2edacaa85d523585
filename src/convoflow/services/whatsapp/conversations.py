"""The conversation of a (number, user) pair: found, or created with its
`whatsapp.conversation.created` event, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping

from convoflow.engine.advance import Advance
from convoflow.ids import new_id
from convoflow.services.whatsapp import payloads
from convoflow.services.whatsapp.events import EventSink
from convoflow.store import messages as message_store
from convoflow.store import whatsapp as wa_store


async def conversation_for(
    adv: Advance,
    events: EventSink,
    *,
    project_id: str,
    phone_number_id: str,
    wa_id: str,
    contact_name: str | None = None,
    with_flow: bool = False,
) -> tuple[RowMapping, bool]:
    """(conversation, created). The newest active one, else a new one; creation is
    serialised per pair across processes (store.whatsapp.lock_route). `with_flow`: an
    existing conversation's row also carries its running flow's settings and whether
    its project has whatsapp_event triggers (store.whatsapp.find_active_conversation_and_flow)."""
    if with_flow:
        row = await wa_store.find_active_conversation_and_flow(adv.conn, phone_number_id, wa_id)
        if row is not None:
            if not row["has_event_triggers"]:
                events.no_event_triggers(project_id)
            return row, False
    else:
        row = await wa_store.find_active_conversation(adv.conn, phone_number_id, wa_id)
        if row is not None:
            return row, False
    await wa_store.lock_route(adv.conn, phone_number_id, wa_id)
    row = await wa_store.find_active_conversation(adv.conn, phone_number_id, wa_id)
    if row is not None:
        return row, False
    return await _create(adv, events, project_id, phone_number_id, wa_id, contact_name), True


async def _create(
    adv: Advance,
    events: EventSink,
    project_id: str,
    phone_number_id: str,
    wa_id: str,
    contact_name: str | None,
) -> RowMapping:
    """A new active conversation, announced as `whatsapp.conversation.created`."""
    conversation_id = new_id()
    await message_store.insert_conversation(
        adv.conn,
        {
            "id": conversation_id,
            "project_id": project_id,
            "channel": "whatsapp",
            "phone_number_id": phone_number_id,
            "wa_id": wa_id,
            "phone_number": f"+{wa_id}" if wa_id.isdigit() else None,
            "status": "active",
            "contact_name": contact_name,
            "metadata": {},
            "messages_count": 0,
            "last_active_at": adv.now,
            "created_at": adv.now,
            "updated_at": adv.now,
        },
    )
    created = await message_store.get_conversation(adv.conn, conversation_id)
    assert created is not None

    async def data() -> dict[str, Any]:
        return {"phone_number_id": phone_number_id, "conversation": payloads.conversation(created)}

    await events.publish(
        project_id=project_id,
        name="whatsapp.conversation.created",
        phone_number_id=phone_number_id,
        conversation_id=conversation_id,
        conversation_phone_number=wa_id,
        dedupe=conversation_id,
        build=data,
    )
    return created


async def record_outbound(adv: Advance, conversation: RowMapping, **fields: Any) -> dict[str, Any]:
    """Store an outbound message of `conversation` (`fields`: the message's own columns,
    `project_id` among them: the sender's project) and make it the conversation's last;
    the row as inserted."""
    row: dict[str, Any] = {
        "id": new_id(),
        "project_id": conversation["project_id"],
        "conversation_id": conversation["id"],
        "direction": "outbound",
        "routing": None,
        "created_at": adv.now,
        "updated_at": adv.now,
        **fields,
    }
    await message_store.insert_message(adv.conn, row)
    await message_store.touch_conversation(
        adv.conn, conversation["id"], now=adv.now, direction="outbound", message_id=row["id"]
    )
    return row
