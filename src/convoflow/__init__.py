"""convoflow: durable WhatsApp conversation flows with a Kapso-compatible API."""

__version__ = "0.1.0"
