"""What the WhatsApp channel adds to one process: the number directory, the Graph client
and channel, its worker jobs and listeners. Built by `setup.build_whatsapp`; kept apart
from it so the use-cases that need these parts (`phone_numbers`, `send`, ...) do not
import the modules `build_whatsapp` composes (an import loop)."""

from __future__ import annotations

from dataclasses import dataclass

from convoflow.channels.whatsapp.channel import WhatsAppChannel
from convoflow.channels.whatsapp.client import GraphClient
from convoflow.engine.advance import Advance
from convoflow.engine.hooks import ExecutionListener, SendListener
from convoflow.engine.runtime import JobHandler
from convoflow.services.whatsapp.directory import WhatsAppDirectory


@dataclass(frozen=True)
class WhatsAppServices:
    directory: WhatsAppDirectory
    client: GraphClient
    channel: WhatsAppChannel
    job_handlers: dict[str, JobHandler]
    listeners: tuple[ExecutionListener[Advance], ...]
    send_listeners: tuple[SendListener[Advance], ...]

    async def aclose(self) -> None:
        await self.client.aclose()
