"""encrypt project webhooks' custom headers at rest

Revision ID: 0011
Revises: 0010

`whatsapp_webhooks.headers` held the custom headers (often `Authorization: Bearer ...`) as
plaintext JSON. The column becomes text holding one Fernet token of the JSON under the
configured key (CONVOFLOW_SECRET_KEY, or the SQLite key file), as migration 0002 did for
the other secrets; an empty object becomes NULL. A database with no header needs no key.
Downgrade decrypts them back to a JSON column.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from convoflow.config import Settings, secret_key_of
from convoflow.store.cipher import SecretCipher, load_cipher

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
RAW = sa.table("whatsapp_webhooks", sa.column("id", sa.String), sa.column("headers", sa.Text))


def _cipher() -> SecretCipher:
    given: SecretCipher | None = context.config.attributes.get("cipher")
    if given is not None:
        return given
    url = context.config.get_main_option("sqlalchemy.url") or ""
    return load_cipher(secret_key_of(Settings()), url)


def _rewrite(transform: str) -> None:
    """Each stored value through `encrypt` (JSON text → token, {} → NULL) or `decrypt`
    (token → JSON text, NULL → {}); the key is loaded only once a value needs it."""
    conn = op.get_bind()
    cipher: SecretCipher | None = None
    for row_id, value in conn.execute(sa.select(RAW.c.id, RAW.c.headers)).all():
        if transform == "encrypt":
            headers = json.loads(value) if value is not None else {}
            if not headers:
                new_value = None
            else:
                cipher = cipher or _cipher()
                new_value = cipher.encrypt(json.dumps(headers))
        else:
            if value is None:
                new_value = "{}"
            else:
                cipher = cipher or _cipher()
                new_value = json.dumps(json.loads(cipher.decrypt(str(value))))
        conn.execute(sa.update(RAW).where(RAW.c.id == row_id).values(headers=new_value))


def upgrade() -> None:
    with op.batch_alter_table("whatsapp_webhooks") as batch:
        batch.alter_column(
            "headers", existing_type=JSON, type_=sa.Text(), nullable=True,
            postgresql_using="headers::text",
        )  # fmt: skip
    _rewrite("encrypt")


def downgrade() -> None:
    _rewrite("decrypt")
    with op.batch_alter_table("whatsapp_webhooks") as batch:
        batch.alter_column(
            "headers", existing_type=sa.Text(), type_=JSON, nullable=False,
            postgresql_using="headers::jsonb",
        )  # fmt: skip
