"""API-key authentication and the per-key rate limit, as one FastAPI dependency.

A key arrives in `X-API-Key` (Kapso's header) or `Authorization: Bearer <key>`. Only its
SHA-256 is stored; lookups are cached for a few seconds so a busy client does not cost a
database read per request. A key revoked through this process is dropped from the cache
at once (and on PostgreSQL, through NOTIFY, by every process); a revocation this process
was not told about takes effect when the entry expires, within KEY_CACHE_SECONDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from convoflow.api.errors import ApiError
from convoflow.api.middleware import RATE_HEADERS_KEY
from convoflow.api.ratelimit import RateLimits
from convoflow.clock import Clock
from convoflow.process import Process
from convoflow.services.common import Actor
from convoflow.services.projects.accounts import hash_api_key
from convoflow.store import projects as project_store

KEY_CACHE_SECONDS = 10.0
MAX_KEY_LENGTH = 200

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Project API key")
bearer_header = HTTPBearer(auto_error=False, description="The same key as a bearer token")


@dataclass(frozen=True)
class _Cached:
    actor: Actor | None
    since: datetime


class KeyCache:
    """Key hash -> caller, for KEY_CACHE_SECONDS of the engine's (injectable) clock."""

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


async def get_engine(request: Request) -> Process:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per
    # request for an attribute lookup.
    engine: Process = request.app.state.engine
    return engine


def get_limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.limits
    return limits


def presented_key(x_api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if bearer is not None and bearer.credentials:
        return bearer.credentials.strip()
    return None


async def resolve_key(engine: Process, cache: KeyCache, key: str) -> Actor | None:
    if len(key) > MAX_KEY_LENGTH or "\x00" in key:
        return None
    key_hash = hash_api_key(key)
    cached = cache.get(key_hash)
    if cached is not None:
        return cached.actor
    async with engine.db.read() as conn:
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


async def _authenticate(
    request: Request, x_api_key: str | None, bearer: HTTPAuthorizationCredentials | None
) -> Actor | None:
    key = presented_key(x_api_key, bearer)
    actor = None
    state = request.app.state
    if key is not None:
        actor = await resolve_key(state.engine, state.key_cache, key)
    # Kapso counts per key, and per client address for requests without a valid key.
    if actor is not None:
        bucket = str(actor.key_id)
    else:
        client = request.scope.get("client")
        bucket = f"ip:{client[0] if client else ''}"
    limits: RateLimits = state.limits
    headers = limits.check_request(bucket)
    request.scope.setdefault("state", {})[RATE_HEADERS_KEY] = headers
    if key is not None and actor is None:
        raise ApiError(401, "Invalid API key: no active key matches the one sent")
    return actor


async def optional_actor(
    request: Request,
    x_api_key: str | None = Security(api_key_header),
    bearer: HTTPAuthorizationCredentials | None = Security(bearer_header),
) -> Actor | None:
    """The caller, or None when no key was sent (public function invokes)."""
    return await _authenticate(request, x_api_key, bearer)


async def current_actor(
    request: Request,
    x_api_key: str | None = Security(api_key_header),
    bearer: HTTPAuthorizationCredentials | None = Security(bearer_header),
) -> Actor:
    # The same as optional_actor, called directly rather than as a sub-dependency
    # (each dependency level costs FastAPI a resolution pass per request).
    actor = await _authenticate(request, x_api_key, bearer)
    if actor is None:
        raise ApiError(
            401,
            "Missing API key: send your project key in the X-API-Key header "
            "(or Authorization: Bearer <key>)",
        )
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
EngineDep = Annotated[Process, Depends(get_engine)]
