"""Conversations: inbound messages meeting their flows, and sandbox chats (no WhatsApp account)."""
