"""Projects and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.clock import Clock
from convoflow.ids import new_id
from convoflow.store import projects as project_store

KEY_PREFIX = "cf_"


class ProjectNotFound(Exception):
    pass


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def keys_match(key: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), key_hash)


async def create_project(
    conn: AsyncConnection, clock: Clock, name: str, settings: dict[str, Any] | None = None
) -> str:
    now = clock.now()
    project_id = new_id()
    await project_store.insert_project(
        conn,
        {
            "id": project_id,
            "name": name,
            "settings": settings or {},
            "created_at": now,
            "updated_at": now,
        },
    )
    return project_id


async def resolve_project(conn: AsyncConnection, name_or_id: str) -> str:
    row = await project_store.find_project(conn, name_or_id)
    if row is None:
        raise ProjectNotFound(f"no project named or with id {name_or_id!r}")
    return str(row["id"])


async def create_api_key(
    conn: AsyncConnection, clock: Clock, project_id: str, name: str | None = None
) -> str:
    """Create a key and return it; only its SHA-256 is stored, so this is the one time
    anybody sees it."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    await project_store.insert_api_key(
        conn,
        {
            "id": new_id(),
            "project_id": project_id,
            "name": name,
            "key_hash": hash_api_key(key),
            "prefix": key[:10],
            "created_at": clock.now(),
        },
    )
    return key


async def set_secret(
    conn: AsyncConnection,
    clock: Clock,
    project_id: str,
    name: str,
    value: str,
    scope: str = project_store.PROJECT_SCOPE,
) -> None:
    now = clock.now()
    await project_store.upsert_secret(
        conn,
        {
            "id": new_id(),
            "project_id": project_id,
            "scope": scope,
            "name": name,
            "value": value,
            "value_type": "text",
            "created_at": now,
            "updated_at": now,
        },
    )
