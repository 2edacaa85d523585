"""Workflows: definitions, immutable versions, triggers and discovered variables."""
