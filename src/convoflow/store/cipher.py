"""Encryption of the secrets stored in the database (tokens, app secrets, webhook and
function secrets), with Fernet keys from `CONVOFLOW_SECRET_KEY`.

The cipher is built once per process (process.py) and handed to the
`Database`, which attaches it to its SQLAlchemy dialects; the `EncryptedText` column type
(store/types.py) encrypts on every write and decrypts on every read with it. So every
query of a secret column, present or future, goes through it, services only ever see
plaintext, and the database only ever holds Fernet tokens.

Keys: a comma-separated list, newest first. New values are encrypted under the first
key; a value encrypted under any listed key can be read, so a key can be added in front,
`convoflow secrets rotate` run, and then the old key dropped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import make_url

from convoflow.store import dialects

ENV_VAR = "CONVOFLOW_SECRET_KEY"
# Where a dialect carries its Database's cipher (see store/types.py: EncryptedText).
DIALECT_ATTRIBUTE = "convoflow_cipher"
KEY_FILE_SUFFIX = ".key"


class SecretKeyError(Exception):
    """The secret key is missing, malformed, or cannot decrypt a stored value."""


class SecretCipher:
    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise SecretKeyError(f"{ENV_VAR} holds no key: expected one or more Fernet keys")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise SecretKeyError(
                    f"key {position} of {ENV_VAR} is not a Fernet key: expected 32 bytes in "
                    "url-safe base64 (44 characters), e.g. the output of "
                    "`convoflow secrets new-key`"
                ) from None
        self._primary = fernets[0]
        self._all = MultiFernet(fernets)
        self.key_count = len(fernets)

    def encrypt(self, plaintext: str) -> str:
        return self._all.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._all.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError):
            raise SecretKeyError(
                f"a stored secret cannot be decrypted with any key of {ENV_VAR}: the key "
                "it was written with is missing (keep the old key listed after the new one "
                "until `convoflow secrets rotate` has run)"
            ) from None

    def rotate(self, token: str) -> str | None:
        """The value re-encrypted under the newest key, or None if it already is."""
        try:
            self._primary.decrypt(token.encode("ascii"))
            return None
        except InvalidToken:
            pass
        self.decrypt(token)  # a clear error for a value no key opens
        return self._all.rotate(token.encode("ascii")).decode("ascii")


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def key_file_for(database_url: str) -> Path | None:
    """The key file beside a SQLite database file; None for PostgreSQL or in-memory."""
    if not _embedded(database_url):
        return None
    url = make_url(database_url)
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database + KEY_FILE_SUFFIX)


def _embedded(database_url: str) -> bool:
    """A database file this machine opens: its key file can sit beside it."""
    dialect = dialects.DIALECTS.get(make_url(database_url).get_backend_name())
    return dialect is not None and dialect.embedded


def load_cipher(secret_key: str | None, database_url: str) -> SecretCipher:
    """The process's cipher: `CONVOFLOW_SECRET_KEY` if set; else, for SQLite, the key file
    beside the database (created by `convoflow migrate`). PostgreSQL requires the
    variable: several hosts share the database and must share the key."""
    if secret_key and secret_key.strip():
        return SecretCipher(parse_keys(secret_key))
    if not _embedded(database_url):
        raise SecretKeyError(
            f"{ENV_VAR} is required with PostgreSQL: set it to a comma-separated list of "
            "Fernet keys, newest first, the same on every process (make one with "
            "`convoflow secrets new-key`)"
        )
    path = key_file_for(database_url)
    if path is None:
        # An in-memory database dies with the process, and its secrets with it.
        return SecretCipher([new_key()])
    if not path.is_file():
        raise SecretKeyError(
            f"no secret key: set {ENV_VAR}, or run `convoflow migrate`, which creates the "
            f"key file {path} for this SQLite database"
        )
    keys = parse_keys(path.read_text())
    if not keys:
        raise SecretKeyError(f"the key file {path} holds no key: expected a Fernet key")
    return SecretCipher(keys)


def ensure_key_file(secret_key: str | None, database_url: str) -> Path | None:
    """Create the SQLite key file (mode 0600) if no key is configured and none exists;
    returns its path when it was created."""
    if secret_key and secret_key.strip():
        return None
    path = key_file_for(database_url)
    if path is None or path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written to a private temporary file (0600 from the start: the key is never
    # readable by others, not even for a moment), then linked into place: link fails if
    # the file exists, so two processes migrating at once cannot both make a key, and a
    # crash never leaves an empty or partial key file behind.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (new_key() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return None
    finally:
        temporary.unlink()
    return path


def attach(dialect: Any, cipher: SecretCipher | None) -> None:
    setattr(dialect, DIALECT_ATTRIBUTE, cipher)


def cipher_of(dialect: Any) -> SecretCipher:
    cipher: SecretCipher | None = getattr(dialect, DIALECT_ATTRIBUTE, None)
    if cipher is None:
        raise SecretKeyError(
            "this database connection has no secret key, so secret columns can be neither "
            "read nor written: build it with Database(url, cipher=...) "
            "(process.py does)"
        )
    return cipher
