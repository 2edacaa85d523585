"""A process's cache of project settings (loop guard, egress policy), read on every
advance."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store import projects as project_store


class ProjectSettingsCache:
    """Project settings change rarely and are read on every advance (loop guard, egress
    policy): keep them for a few seconds instead of a query per advance."""

    def __init__(self, ttl_seconds: float = 5.0) -> None:
        self.ttl = timedelta(seconds=ttl_seconds)
        self._entries: dict[str, tuple[datetime, dict[str, Any]]] = {}

    async def get(self, conn: AsyncConnection, project_id: str, now: datetime) -> dict[str, Any]:
        entry = self._entries.get(project_id)
        if entry is not None and now - entry[0] < self.ttl and now >= entry[0]:
            return entry[1]
        settings = await project_store.get_settings(conn, project_id)
        self._entries[project_id] = (now, settings)
        return settings

    def forget(self, project_id: str) -> None:
        self._entries.pop(project_id, None)
