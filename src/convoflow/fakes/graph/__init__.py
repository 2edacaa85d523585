"""The fake WhatsApp Graph API (`server.FakeGraph`) and its routes."""
