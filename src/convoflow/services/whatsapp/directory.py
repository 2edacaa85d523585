"""In-process caches of what every webhook and send needs: the WhatsApp numbers (with
their secrets) and each project's active webhooks.

Both change rarely and are read on every inbound webhook, so they are kept for a few
seconds instead of a query per request. Writes made through this process forget the
entry at once; another process sees a change within TTL_SECONDS (docs/whatsapp.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.engine import RowMapping

from convoflow.channels.whatsapp.channel import PhoneCredentials
from convoflow.store import phone_numbers as number_store
from convoflow.store import webhooks as webhook_store

if TYPE_CHECKING:
    from convoflow.store.db import Database

TTL_SECONDS = 5.0
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class NumberEntry:
    credentials: PhoneCredentials
    project_id: str
    inbound_enabled: bool
    config_id: str = ""  # our id of the number: Kapso's WhatsApp config id


class _TtlCache(Generic[K, V]):
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: K, value: V) -> None:
        if len(self._entries) > 50_000:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def forget(self, key: K | None = None) -> None:
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)


def _entry(row: RowMapping) -> NumberEntry:
    credentials = PhoneCredentials(
        phone_number_id=str(row["phone_number_id"]),
        access_token=str(row["access_token"]),
        app_secret=str(row["app_secret"] or ""),
        verify_token=str(row["verify_token"] or ""),
        display_phone_number=row["display_phone_number"],
        business_account_id=row["business_account_id"],
        project_id=str(row["project_id"]),
    )
    return NumberEntry(
        credentials,
        str(row["project_id"]),
        bool(row["inbound_processing_enabled"]),
        str(row["id"]),
    )


class WhatsAppDirectory:
    def __init__(self, db: Database, ttl: float = TTL_SECONDS) -> None:
        self.db = db
        self._numbers: _TtlCache[str, NumberEntry | None] = _TtlCache(ttl)
        self._by_config_id: _TtlCache[str, NumberEntry | None] = _TtlCache(ttl)
        self._all: _TtlCache[str, list[NumberEntry]] = _TtlCache(ttl)
        self._webhooks: _TtlCache[str, list[RowMapping]] = _TtlCache(ttl)
        # One database read per expired key, however many callers miss it at once (a
        # dispatcher batch sends hundreds of messages from the same number).
        self._loading: dict[tuple[str, str], asyncio.Future[Any]] = {}

    async def _load(
        self, cache: _TtlCache[str, Any], kind: str, key: str, read: Callable[[], Awaitable[Any]]
    ) -> Any:
        hit, value = cache.get(key)
        if hit:
            return value
        pending = self._loading.get((kind, key))
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[(kind, key)] = future
        try:
            value = await read()
            cache.put(key, value)
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        finally:
            del self._loading[(kind, key)]

    async def number(self, phone_number_id: str) -> NumberEntry | None:
        async def read() -> NumberEntry | None:
            async with self.db.read() as conn:
                row = await number_store.get_credentials_row(conn, phone_number_id)
            return _entry(row) if row is not None else None

        entry: NumberEntry | None = await self._load(self._numbers, "number", phone_number_id, read)
        return entry

    async def number_by_config_id(self, config_id: str) -> NumberEntry | None:
        """A number by our id of it, read by that id: not looked for in `all_numbers`,
        which another process's add does not refresh here, so a number just added
        elsewhere would be "not configured" for up to TTL_SECONDS."""

        async def read() -> NumberEntry | None:
            async with self.db.read() as conn:
                row = await number_store.get_credentials_row_by_id(conn, config_id)
            return _entry(row) if row is not None else None

        entry: NumberEntry | None = await self._load(
            self._by_config_id, "config_id", config_id, read
        )
        return entry

    async def credentials(self, number: str) -> PhoneCredentials | None:
        """The channel's CredentialsLookup: by Meta's phone_number_id, else by our id of
        the number (a send node's `whatsapp_config_id` may be either). The channel checks
        the number's project."""
        entry = await self.number(number)
        if entry is None:
            entry = await self.number_by_config_id(number)
        return entry.credentials if entry is not None else None

    async def all_numbers(self) -> list[NumberEntry]:
        async def read() -> list[NumberEntry]:
            async with self.db.read() as conn:
                rows = await number_store.all_credentials_rows(conn)
            return [_entry(row) for row in rows]

        entries: list[NumberEntry] = await self._load(self._all, "all", "all", read)
        return entries

    async def webhooks(self, project_id: str) -> list[RowMapping]:
        async def read() -> list[RowMapping]:
            async with self.db.read() as conn:
                return await webhook_store.active_webhooks(conn, project_id)

        rows: list[RowMapping] = await self._load(self._webhooks, "webhooks", project_id, read)
        return rows

    def forget_number(self, phone_number_id: str) -> None:
        self._numbers.forget(phone_number_id)
        # Keyed by our id, which the caller does not name: forget them all (few, cheap).
        self._by_config_id.forget()
        self._all.forget()

    def forget_webhooks(self, project_id: str) -> None:
        self._webhooks.forget(project_id)
