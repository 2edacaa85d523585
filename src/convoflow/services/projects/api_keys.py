"""Listing and revoking a project's API keys (API and CLI).

A revoked key is refused at once by this process (its key cache listens on the
notifier), at once by every other process on PostgreSQL (NOTIFY in the revoking
transaction), and otherwise once their cache entry expires
(services/projects/key_cache.py: KEY_CACHE_SECONDS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import RowMapping

from convoflow.services.common import NotFound, not_found
from convoflow.services.projects.accounts import KEY_PREFIX, create_api_key, hash_api_key
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


async def list_all(engine: Process) -> list[RowMapping]:
    """Every project's keys, each with its project's name as `project` (the CLI's list)."""
    async with engine.db.read() as conn:
        return await project_store.list_all_api_keys(conn)


async def revoke_anywhere(
    engine: Process, key_id_or_key: str, only_project: tuple[str, str] | None = None
) -> str:
    """Revoke a key named by its id, or by the key itself (an operator holding a leaked
    key need not look its id up), whatever its project or, given `only_project` (id,
    name as the operator wrote it), only if it is that project's; returns its id.
    NotFound when no key matches or it is another project's. The argument is never
    echoed: it may be a key, even a live credential of another system."""
    async with engine.db.read() as conn:
        owner = await project_store.api_key_owner(conn, key_id_or_key, hash_api_key(key_id_or_key))
    if owner is None:
        shown = "given" if key_id_or_key.startswith(KEY_PREFIX) else key_id_or_key
        raise NotFound(f"API key {shown} not found (in any project)")
    key_id, project_id = owner
    if only_project is not None and only_project[0] != project_id:
        raise NotFound(f"The given API key is not one of project {only_project[1]}'s: not revoked")
    await revoke(engine, project_id, key_id)
    return key_id
