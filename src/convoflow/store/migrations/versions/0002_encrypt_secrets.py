"""encrypt the secrets stored in plaintext before 0002

Revision ID: 0002
Revises: 0001

Databases created before secrets were encrypted hold tokens and secrets in plaintext:
this encrypts every one of them under the configured key (CONVOFLOW_SECRET_KEY, or the
SQLite key file `convoflow migrate` creates). A database with no secret needs no key.
Downgrade decrypts them again.
"""

from __future__ import annotations

from alembic import context, op

from convoflow.config import Settings, secret_key_of
from convoflow.store.cipher import SecretCipher, load_cipher
from convoflow.store.secret_columns import count_values, rewrite_all

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The secret columns as they were at this revision: tables added later (provider_models)
# do not exist yet when it runs, and were encrypted from the start.
COLUMNS = (
    ("phone_numbers", "access_token"),
    ("phone_numbers", "app_secret"),
    ("phone_numbers", "verify_token"),
    ("whatsapp_webhooks", "secret_key"),
    ("secrets", "value"),
)


def _cipher() -> SecretCipher | None:
    conn = op.get_bind()
    if count_values(conn, COLUMNS) == 0:
        return None
    given: SecretCipher | None = context.config.attributes.get("cipher")
    if given is not None:
        return given
    url = context.config.get_main_option("sqlalchemy.url") or ""
    return load_cipher(secret_key_of(Settings()), url)


def upgrade() -> None:
    cipher = _cipher()
    if cipher is not None:
        rewrite_all(op.get_bind(), cipher.encrypt, COLUMNS)


def downgrade() -> None:
    cipher = _cipher()
    if cipher is not None:
        rewrite_all(op.get_bind(), cipher.decrypt, COLUMNS)
