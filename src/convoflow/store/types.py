"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from convoflow.store.cipher import cipher_of


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases.

    SQLite has no timezone type: values are stored as naive UTC (SQLAlchemy's fixed-width
    ISO text, which sorts correctly) and read back as aware UTC, so comparisons and
    keyset cursors never mix naive and aware values.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class EncryptedText(sa.TypeDecorator[str]):
    """A secret: a Fernet token in the database, plaintext in Python.

    The cipher is the one the `Database` attached to its dialect (store/cipher.py), so
    every statement that writes or reads the column encrypts or decrypts, whoever
    wrote it. Fernet is randomised: the column cannot be searched by value.
    """

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return cipher_of(dialect).encrypt(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return cipher_of(dialect).decrypt(str(value))


class EncryptedJSON(sa.TypeDecorator[dict[str, Any]]):
    """A secret JSON object (a project webhook's custom headers): one Fernet token of its
    JSON text, under the same cipher as `EncryptedText`. An empty or missing object is
    stored as NULL: nothing to hide, and a row without one needs no key to be read."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> Any:
        if not value:
            return None
        return cipher_of(dialect).encrypt(json.dumps(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> dict[str, Any]:
        if value is None:
            return {}
        opened = json.loads(cipher_of(dialect).decrypt(str(value)))
        if not isinstance(opened, dict):
            raise TypeError(f"expected a JSON object, got {type(opened).__name__}")
        return opened
