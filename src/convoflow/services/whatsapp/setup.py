"""The WhatsApp channel's parts for one process (composed by convoflow.process): the number
directory, the Graph client and channel, the worker jobs that call Meta or deliver project
webhooks, and the listeners that turn execution failures, handoffs and refused sends into
project-webhook deliveries."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from convoflow.channels.whatsapp.channel import WhatsAppChannel
from convoflow.channels.whatsapp.client import GraphClient
from convoflow.config import Settings
from convoflow.engine.hooks import ExecutionListener, SendListener
from convoflow.engine.jobs import JobHandler
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
from convoflow.store.db import Database


@dataclass(frozen=True)
class WhatsAppServices:
    directory: WhatsAppDirectory
    client: GraphClient
    channel: WhatsAppChannel
    job_handlers: dict[str, JobHandler]
    listeners: tuple[ExecutionListener, ...]
    send_listeners: tuple[SendListener, ...]

    async def aclose(self) -> None:
        await self.client.aclose()


def build_whatsapp(
    db: Database, settings: Settings, http: httpx.AsyncClient | None = None
) -> WhatsAppServices:
    directory = WhatsAppDirectory(db)
    client = GraphClient.from_settings(settings, http=http)
    return WhatsAppServices(
        directory=directory,
        client=client,
        channel=WhatsAppChannel(client, directory.credentials),
        job_handlers={
            READ_JOB: mark_read_handler(directory, client),
            DELIVERY_JOB: handle_delivery_job,
            OBSERVER_JOB: handle_observer_job,
        },
        listeners=(WorkflowWebhookListener(directory),),
        send_listeners=(SendFailureRecorder(directory),),
    )
