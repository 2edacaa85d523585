"""Every column that holds a secret, read and rewritten raw (as stored, no decryption):
the migration that encrypts plaintext values of older databases, and
`convoflow secrets rotate`, which re-encrypts them under the newest key. Rotation also
rewrites the Fernet tokens sealed inside journaled action requests (the headers of
webhook and MCP calls, their urls and bodies naming a project secret), through a
transform the engine gives per action kind: the request's shape is the engine's business,
the statements are ours.

Raw `sa.table` shapes instead of schema.py's tables: those decrypt on read, and these
statements must see and write the stored text itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from convoflow.store.schema import action_journal

if TYPE_CHECKING:
    from convoflow.store.cipher import SecretCipher
    from convoflow.store.db import Database

SECRET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("phone_numbers", "access_token"),
    ("phone_numbers", "app_secret"),
    ("phone_numbers", "verify_token"),
    ("whatsapp_webhooks", "secret_key"),
    ("whatsapp_webhooks", "headers"),  # one token of the custom headers' JSON
    ("provider_models", "api_key"),
    ("secrets", "value"),  # project secrets and function secrets
)


def _raw(table: str, column: str) -> sa.TableClause:
    return sa.table(table, sa.column("id", sa.String), sa.column(column, sa.Text))


def count_values(conn: sa.Connection, columns: tuple[tuple[str, str], ...] = SECRET_COLUMNS) -> int:
    total = 0
    for table, column in columns:
        raw = _raw(table, column)
        query = sa.select(sa.func.count()).select_from(raw).where(raw.c[column].is_not(None))
        total += int(conn.execute(query).scalar_one())
    return total


def rewrite_all(
    conn: sa.Connection,
    transform: Callable[[str], str | None],
    columns: tuple[tuple[str, str], ...] = SECRET_COLUMNS,
) -> int:
    """Apply `transform` to every stored secret, in the caller's transaction; a None
    result leaves the value as it is. Returns how many values were rewritten."""
    rewritten = 0
    for table, column in columns:
        raw = _raw(table, column)
        rows = conn.execute(sa.select(raw.c.id, raw.c[column]).where(raw.c[column].is_not(None)))
        for row_id, value in rows.all():
            new_value = transform(str(value))
            if new_value is None:
                continue
            conn.execute(sa.update(raw).where(raw.c.id == row_id).values({column: new_value}))
            rewritten += 1
    return rewritten


# A journaled request → (the request with its sealed tokens re-encrypted, how many were).
JournalTransform = Callable[[dict[str, Any]], tuple[dict[str, Any], int]]


# Every Fernet token starts so (version byte 0x80, base64url): a request holding none as a
# JSON string value has nothing to re-encrypt. Matched on the JSON's text, which both
# databases give by CAST (PostgreSQL's jsonb text, SQLite's stored text).
_TOKEN_VALUE = '%"gAAAAA%'
JOURNAL_BATCH = 500


def rewrite_journal(
    conn: sa.Connection, kind: str, transform: JournalTransform, batch: int = JOURNAL_BATCH
) -> int:
    """Apply `transform` to the request of every journaled action of `kind` holding a
    sealed token (pending or done: a done one is never opened again, but no token may stay
    under a key that is about to be dropped), `batch` rows at a time by id, so a large
    journal is never loaded whole. Returns how many tokens were rewritten."""
    rewritten = 0
    after: str | None = None
    while True:
        query = (
            sa.select(action_journal.c.id, action_journal.c.request)
            .where(
                action_journal.c.kind == kind,
                sa.cast(action_journal.c.request, sa.Text).like(_TOKEN_VALUE),
            )
            .order_by(action_journal.c.id)
            .limit(batch)
        )
        if after is not None:
            query = query.where(action_journal.c.id > after)
        rows = conn.execute(query).all()
        for row_id, request in rows:
            if not isinstance(request, dict):
                continue
            new_request, count = transform(request)
            if count:
                conn.execute(
                    sa.update(action_journal)
                    .where(action_journal.c.id == row_id)
                    .values(request=new_request)
                )
                rewritten += count
        if len(rows) < batch:
            return rewritten
        after = str(rows[-1][0])


async def rotate_all(
    db: Database, cipher: SecretCipher, journal: Mapping[str, JournalTransform] | None = None
) -> int:
    """Re-encrypt every stored secret under `cipher`'s newest key, and the tokens sealed in
    the journaled requests of each kind in `journal`, in one transaction (a crash leaves
    every value under the key it had, all still readable). Returns how many values were
    rewritten."""

    def rotate(sync_conn: sa.Connection) -> int:
        total = rewrite_all(sync_conn, cipher.rotate)
        for kind, transform in (journal or {}).items():
            total += rewrite_journal(sync_conn, kind, transform)
        return total

    async with db.write() as conn:
        return await conn.run_sync(rotate)
