"""idempotency_keys: the use-case's result (`result`, JSON text) instead of an HTTP
response (`status_code`, `body`)

Services return domain results and the API renders them (issue 9 item 1), replays
included. A stored HTTP response cannot become a domain result, so the rows stored
before this revision are dropped: a request repeated across the upgrade with the same
Idempotency-Key runs again (keys live 24 hours). Downgrading drops them likewise.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("status_code")
        batch_op.drop_column("body")
        batch_op.add_column(sa.Column("result", sa.Text(), nullable=False))


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("result")
        batch_op.add_column(sa.Column("status_code", sa.Integer(), nullable=False))
        batch_op.add_column(
            sa.Column(
                "body",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
            )
        )
