"""Listing and revoking a project's API keys (API and CLI).

A revoked key is refused at once by this process (its key cache listens on the
notifier), at once by every other process on PostgreSQL (NOTIFY in the revoking
transaction), and otherwise once their cache entry expires
(services/projects/key_cache.py: KEY_CACHE_SECONDS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import RowMapping

from convoflow.services.common import not_found
from convoflow.services.projects.accounts import create_api_key, hash_api_key
from convoflow.store import projects as project_store

if TYPE_CHECKING:
    from convoflow.engine.advance import Advance
    from convoflow.services.process import Process


async def create(engine: Process, project_id: str, name: str | None) -> tuple[str, str]:
    """A new key for the project: (its id, the key). The key is returned this once;
    only its hash is stored (accounts.create_api_key)."""

    async def run(adv: Advance) -> tuple[str, str]:
        key = await create_api_key(adv.conn, engine.clock, project_id, name)
        row = await project_store.find_api_key(adv.conn, hash_api_key(key))
        assert row is not None  # inserted just above, in this transaction
        return str(row["id"]), key

    return await engine.runtime.op(run)


async def list_keys(engine: Process, project_id: str) -> list[RowMapping]:
    async with engine.db.read() as conn:
        return await project_store.list_api_keys(conn, project_id)


async def revoke(engine: Process, project_id: str, key_id: str) -> None:
    """Revoke `key_id` if it belongs to `project_id` (NotFound otherwise, the same answer
    for another project's key as for none). Revoking a revoked key changes nothing."""
    notifier = engine.runtime.notifier

    async def run(adv: Advance) -> bool:
        if not await project_store.revoke_api_key(adv.conn, key_id, project_id, adv.now):
            return False
        await notifier.notify_key_revoked(adv.conn, key_id)
        adv.after_commit.append(lambda: notifier.key_revoked(key_id))
        return True

    if not await engine.runtime.op(run):
        raise not_found("API key", key_id)
