"""message_statuses per project: a receipt counts once per (project, wamid, status)

Receipts were unique per (wamid, status) across all projects, so a tenant that knew
another tenant's wamid could post a signed status for it from its own number first and
the victim's real receipt was then dropped as a duplicate. Each row now carries the
project of the number that reported it, and the unique key includes it.

Existing rows get the project of their phone number, else of the message with their
wamid. A row with neither (its number was removed and its message never recorded) can
never be applied to anything and is deleted.

Downgrade keeps one row per (wamid, status), the earliest, as the old key requires.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message_statuses") as batch:
        batch.add_column(sa.Column("project_id", sa.String(36), nullable=True))
    op.execute(
        "UPDATE message_statuses SET project_id = (SELECT p.project_id FROM phone_numbers p "
        "WHERE p.phone_number_id = message_statuses.phone_number_id)"
    )
    op.execute(
        "UPDATE message_statuses SET project_id = (SELECT m.project_id FROM messages m "
        "WHERE m.provider_message_id = message_statuses.provider_message_id) "
        "WHERE project_id IS NULL"
    )
    op.execute("DELETE FROM message_statuses WHERE project_id IS NULL")
    with op.batch_alter_table("message_statuses") as batch:
        batch.alter_column("project_id", existing_type=sa.String(36), nullable=False)
        batch.drop_constraint("uq_message_statuses_provider_message_id_status", type_="unique")
        batch.create_unique_constraint(
            "uq_message_statuses_project_id_provider_message_id_status",
            ["project_id", "provider_message_id", "status"],
        )
        batch.create_foreign_key(
            "fk_message_statuses_project_id_projects", "projects", ["project_id"], ["id"]
        )


def downgrade() -> None:
    op.execute(
        "DELETE FROM message_statuses WHERE EXISTS (SELECT 1 FROM message_statuses o "
        "WHERE o.provider_message_id = message_statuses.provider_message_id "
        "AND o.status = message_statuses.status AND (o.created_at < message_statuses.created_at "
        "OR (o.created_at = message_statuses.created_at AND o.id < message_statuses.id)))"
    )
    with op.batch_alter_table("message_statuses") as batch:
        batch.drop_constraint("fk_message_statuses_project_id_projects", type_="foreignkey")
        batch.drop_constraint(
            "uq_message_statuses_project_id_provider_message_id_status", type_="unique"
        )
        batch.create_unique_constraint(
            "uq_message_statuses_provider_message_id_status", ["provider_message_id", "status"]
        )
        batch.drop_column("project_id")
