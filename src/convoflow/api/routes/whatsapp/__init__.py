"""WhatsApp endpoints: Meta's webhook, Kapso's Meta proxy, and under /platform/v1 phone
numbers, conversations, messages, project webhooks and their deliveries."""

from __future__ import annotations

from convoflow.api.bodies import api_router
from convoflow.api.routes.whatsapp import conversations, phone_numbers, webhook, webhooks

PLATFORM_PREFIX = "/platform/v1"

router = api_router()
router.include_router(webhook.router)
router.include_router(conversations.proxy_router)
for module in (phone_numbers, conversations, webhooks):
    router.include_router(module.router, prefix=PLATFORM_PREFIX)
