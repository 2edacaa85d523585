"""The WhatsApp channel's use-cases: numbers, Meta's webhook, receipts, replies, conversations."""
