"""workflow_execution_counts: a workflow's start count on sharded rows, not its own row

Every start used to update workflows.execution_count in the start's transaction; on
PostgreSQL that row lock made the starts of one workflow wait for each other's commit.
The figures move to shard 0 of the new table and the two columns go.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import convoflow.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_execution_counts",
        sa.Column("workflow_id", sa.String(36), nullable=False),
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column(
            "last_executed_at", convoflow.store.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_execution_counts_workflow_id_workflows"),
        ),
        sa.PrimaryKeyConstraint("workflow_id", "shard", name=op.f("pk_workflow_execution_counts")),
    )
    op.execute(
        "INSERT INTO workflow_execution_counts (workflow_id, shard, count, last_executed_at) "
        "SELECT id, 0, execution_count, last_executed_at FROM workflows "
        "WHERE execution_count > 0 AND last_executed_at IS NOT NULL"
    )
    with op.batch_alter_table("workflows") as batch:
        batch.drop_column("execution_count")
        batch.drop_column("last_executed_at")


def downgrade() -> None:
    with op.batch_alter_table("workflows") as batch:
        batch.add_column(
            sa.Column("execution_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column(
                "last_executed_at",
                convoflow.store.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
    op.execute(
        "UPDATE workflows SET execution_count = COALESCE((SELECT SUM(c.count) FROM "
        "workflow_execution_counts c WHERE c.workflow_id = workflows.id), 0), "
        "last_executed_at = (SELECT MAX(c.last_executed_at) FROM workflow_execution_counts c "
        "WHERE c.workflow_id = workflows.id)"
    )
    op.drop_table("workflow_execution_counts")
