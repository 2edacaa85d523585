"""function_kv (a JavaScript function's env.KV) and function_invocations.console_logs

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import convoflow.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "function_kv",
        sa.Column("function_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", convoflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["function_id"], ["functions.id"], name=op.f("fk_function_kv_function_id_functions")
        ),
        sa.PrimaryKeyConstraint("function_id", "key", name=op.f("pk_function_kv")),
    )
    with op.batch_alter_table("function_invocations") as batch:
        batch.add_column(
            sa.Column(
                "console_logs",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("function_invocations") as batch:
        batch.drop_column("console_logs")
    op.drop_table("function_kv")
