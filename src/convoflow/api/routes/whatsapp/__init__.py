"""WhatsApp endpoints: Meta's webhook, Kapso's Meta proxy, and under /platform/v1 phone
numbers, conversations, messages, project webhooks and their deliveries."""

from __future__ import annotations

from convoflow.api.bodies import api_router
from convoflow.api.routes.whatsapp import conversations, phone_numbers, webhook, webhooks

PLATFORM_PREFIX = "/platform/v1"

# Meta's webhook is the hottest route: the app includes it before every other router, so
# a webhook request is matched first instead of after ~100 API routes (bench/e2e.py
# profile: route matching was a quarter of a webhook request's time).
meta_webhook_router = webhook.router

router = api_router()
router.include_router(conversations.proxy_router)
for module in (phone_numbers, conversations, webhooks):
    router.include_router(module.router, prefix=PLATFORM_PREFIX)
