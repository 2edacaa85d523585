"""workflow_test_suites: a workflow's conversation test suite (YAML), run from the console

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import convoflow.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_test_suites",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("yaml", sa.Text(), nullable=False),
        sa.Column("created_at", convoflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", convoflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_test_suites_workflow_id_workflows"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_workflow_test_suites_project_id_projects"),
        ),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_workflow_test_suites")),
    )


def downgrade() -> None:
    op.drop_table("workflow_test_suites")
