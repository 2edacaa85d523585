"""Wires the WhatsApp channel into one process's engine (called by build_engine): the
number directory, the Graph client and channel, the job handlers and the listener that
turns execution failures and handoffs into project-webhook deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from convoflow.channels.whatsapp.channel import WhatsAppChannel
from convoflow.channels.whatsapp.client import GraphClient
from convoflow.config import Settings
from convoflow.services.project_webhooks.delivery import (
    WorkflowWebhookListener,
    handle_delivery_job,
)
from convoflow.services.project_webhooks.events import DELIVERY_JOB
from convoflow.services.whatsapp.directory import WhatsAppDirectory
from convoflow.services.whatsapp.events import OBSERVER_JOB, handle_observer_job
from convoflow.services.whatsapp.inbound import READ_JOB
from convoflow.services.whatsapp.jobs import mark_read_handler
from convoflow.services.whatsapp.send_failures import SendFailureRecorder

if TYPE_CHECKING:
    from convoflow.engine.runtime import Runtime


@dataclass
class WhatsAppServices:
    directory: WhatsAppDirectory
    client: GraphClient
    channel: WhatsAppChannel

    async def aclose(self) -> None:
        await self.client.aclose()


def install_whatsapp(
    runtime: Runtime, settings: Settings, http: httpx.AsyncClient | None = None
) -> WhatsAppServices:
    directory = WhatsAppDirectory(runtime.db)
    client = GraphClient.from_settings(settings, http=http)
    channel = WhatsAppChannel(client, directory.credentials)
    runtime.job_handlers[READ_JOB] = mark_read_handler(directory, client)
    runtime.job_handlers[DELIVERY_JOB] = handle_delivery_job
    runtime.job_handlers[OBSERVER_JOB] = handle_observer_job
    runtime.hooks.listeners.append(WorkflowWebhookListener(directory))
    runtime.hooks.send_listeners.append(SendFailureRecorder(directory))
    return WhatsAppServices(directory=directory, client=client, channel=channel)
