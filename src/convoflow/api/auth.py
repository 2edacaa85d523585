"""API-key authentication and the per-key rate limit, as one FastAPI dependency.

A key arrives in `X-API-Key` (Kapso's header) or `Authorization: Bearer <key>`. Only its
SHA-256 is stored; who a key stands for is `services/projects/key_cache.py` (a cache of a
few seconds, told of revocations by the notifier it was given to at construction).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from convoflow.api.errors import ApiError
from convoflow.api.middleware import RATE_HEADERS_KEY
from convoflow.api.ratelimit import RateLimits
from convoflow.process import Process
from convoflow.services.common import Actor
from convoflow.services.projects.key_cache import resolve_key

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Project API key")
bearer_header = HTTPBearer(auto_error=False, description="The same key as a bearer token")


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


async def _authenticate(
    request: Request, x_api_key: str | None, bearer: HTTPAuthorizationCredentials | None
) -> Actor | None:
    key = presented_key(x_api_key, bearer)
    actor = None
    state = request.app.state
    if key is not None:
        actor = await resolve_key(state.engine.db, state.engine.key_cache, key)
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
