"""outbox: uncertain_since, set when a send whose result a crash lost is held for a status

The `uncertain` outbox status needs no schema change: outbox.status is a plain
String(16) with no CHECK constraint or enum type.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import convoflow.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "uncertain_since",
                convoflow.store.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    # A held row loses its hold timestamp; the older code never wrote `uncertain`, so any
    # such row goes back to `sending`, which that code's crash recovery already handles.
    op.execute("UPDATE outbox SET status = 'sending' WHERE status = 'uncertain'")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("uncertain_since")
