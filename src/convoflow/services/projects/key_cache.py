"""Who is asking, from an API key: its SHA-256 looked up in the database and cached for a
few seconds, so a busy client does not cost a database read per request.

The process builds one `KeyCache` (convoflow/process.py) and gives its `forget_key` to the
runtime's notifier at construction: a key revoked through this process is dropped from
the cache at once (and on PostgreSQL, through NOTIFY, by every process); a revocation
this process was not told about takes effect when the entry expires, within
KEY_CACHE_SECONDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from convoflow.clock import Clock
from convoflow.services.common import Actor
from convoflow.services.projects.accounts import hash_api_key
from convoflow.store import projects as project_store
from convoflow.store.db import Database

KEY_CACHE_SECONDS = 10.0
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class _Cached:
    actor: Actor | None
    since: datetime


class KeyCache:
    """Key hash -> caller, for KEY_CACHE_SECONDS of the process's (injectable) clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._entries: dict[str, _Cached] = {}
        # Ids revoked while this process runs: a lookup that read the key just before the
        # revocation committed must not cache it afterwards.
        self._revoked: set[str] = set()

    def get(self, key_hash: str) -> _Cached | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        age = (self.clock.now() - entry.since).total_seconds()
        # A clock that went backwards also ends the entry: never longer than promised.
        if not 0 <= age < KEY_CACHE_SECONDS:
            return None
        return entry

    def put(self, key_hash: str, actor: Actor | None) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        if actor is not None and actor.key_id in self._revoked:
            actor = None
        self._entries[key_hash] = _Cached(actor, self.clock.now())

    def forget_key(self, key_id: str) -> None:
        """Drop a revoked key (by id: the cache never sees ids without their hash)."""
        self._revoked.add(key_id)
        for key_hash, entry in list(self._entries.items()):
            if entry.actor is not None and entry.actor.key_id == key_id:
                del self._entries[key_hash]


async def resolve_key(db: Database, cache: KeyCache, key: str) -> Actor | None:
    """The caller a presented key stands for, or None (unknown, revoked or malformed)."""
    if len(key) > MAX_KEY_LENGTH or "\x00" in key:
        return None
    key_hash = hash_api_key(key)
    cached = cache.get(key_hash)
    if cached is not None:
        return cached.actor
    async with db.read() as conn:
        row = await project_store.find_api_key(conn, key_hash)
    actor = (
        Actor(
            project_id=str(row["project_id"]),
            key_id=str(row["id"]),
            key_name=row["name"] or f"API key {row['prefix']}",
        )
        if row is not None
        else None
    )
    cache.put(key_hash, actor)
    return actor
