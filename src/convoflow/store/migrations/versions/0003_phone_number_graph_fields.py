"""phone numbers: verified_name and quality_rating from the Graph API

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verified_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("quality_rating", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.drop_column("quality_rating")
        batch_op.drop_column("verified_name")
