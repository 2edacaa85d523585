"""Schema migrations (Alembic) driven from code, so `convoflow migrate` needs no ini file."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config

from convoflow.store.cipher import SecretCipher
from convoflow.store.db import normalise_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str, cipher: SecretCipher | None = None) -> Config:
    cfg = Config()
    # The key for migration 0002 (encrypting older plaintext secrets); without one it is
    # looked up the way a process does (store/cipher.py: load_cipher).
    cfg.attributes["cipher"] = cipher
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head", cipher: SecretCipher | None = None) -> None:
    """Bring the database at `url` to `revision`. Safe to run repeatedly."""
    command.upgrade(alembic_config(url, cipher), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    # Alembic's env runs its own event loop; keep it off the caller's loop.
    await asyncio.to_thread(upgrade, url, revision)


def copy_sqlite_file(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite file (its WAL included), by SQLite's backup API: an
    empty migrated database copied instead of migrated again (the test runs' template)."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
