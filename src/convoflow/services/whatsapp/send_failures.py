"""A WhatsApp send the Graph API refused for good (its HTTP answer, not a later receipt).

Meta reports most failures with a `failed` receipt, which whatsapp_statuses records on
the message and publishes. A refusal in the send's own answer (131047 outside the 24-hour
window, 131026 undeliverable, an invalid parameter, retries exhausted) never gets a
receipt, so it is recorded here the same way: an outbound message row with status
`failed` and Meta's error (visible in the messages API), and a
`whatsapp.message.failed` event to project webhooks and `whatsapp_event` triggers. Runs
in the dispatcher's transaction that marks the outbox row failed (engine.hooks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from convoflow.channels.base import Delivery
from convoflow.engine.advance import Advance
from convoflow.services.whatsapp import payloads
from convoflow.services.whatsapp.conversations import record_outbound
from convoflow.services.whatsapp.events import EventSink
from convoflow.store import whatsapp_queries

if TYPE_CHECKING:
    from convoflow.services.whatsapp.directory import WhatsAppDirectory

EVENT = "whatsapp.message.failed"


class SendFailureRecorder:
    """engine.hooks.SendListener for conversations on WhatsApp."""

    def __init__(self, directory: WhatsAppDirectory) -> None:
        self.directory = directory

    async def send_failed(self, adv: Advance, delivery: Delivery, error: dict[str, Any]) -> None:
        conversation = delivery.conversation
        if conversation is None or conversation["channel"] != "whatsapp":
            return
        outbox = delivery.outbox
        row = await record_outbound(
            adv,
            conversation,
            project_id=outbox["project_id"],
            provider_message_id=None,  # Meta never accepted it: no wamid
            message_type=delivery.message.get("type", "text"),
            content=delivery.message,
            status="failed",
            error=error,
            execution_id=outbox["execution_id"],
            outbox_id=outbox["id"],
        )
        shown = whatsapp_queries.message_row(row)
        project_id = str(outbox["project_id"])
        events = EventSink(adv, {project_id: await self.directory.webhooks(project_id)})

        async def data() -> dict[str, Any]:
            return {
                "phone_number_id": conversation["phone_number_id"],
                "message": payloads.message(shown, conversation),
                "conversation": payloads.conversation(conversation),
            }

        await events.publish(
            project_id=project_id,
            name=EVENT,
            phone_number_id=conversation["phone_number_id"],
            conversation_id=str(conversation["id"]),
            conversation_phone_number=conversation["wa_id"],
            dedupe=f"outbox:{outbox['id']}:failed",
            build=data,
        )
