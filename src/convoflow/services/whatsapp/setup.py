"""Builds the WhatsApp channel's parts for one process (`parts.WhatsAppServices`, composed
by convoflow/process.py): the number directory, the Graph client and channel, the worker
jobs that call Meta or deliver project webhooks, and the listeners that turn execution
failures, handoffs and refused sends into project-webhook deliveries."""

from __future__ import annotations

from convoflow.channels.http11 import Http11Pool
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
from convoflow.services.whatsapp.parts import WhatsAppServices
from convoflow.services.whatsapp.send_failures import SendFailureRecorder
from convoflow.store.db import Database


def build_whatsapp(
    db: Database, settings: Settings, http: Http11Pool | None = None
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
