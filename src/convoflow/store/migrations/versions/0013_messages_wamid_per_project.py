"""messages: a provider message id is unique per project, not across projects

With one wamid key for every project, a message another tenant stored under a wamid
(an inbound webhook to its own number, signed with its own secret) made the owner's
record of its send with that wamid a "redelivery", silently skipped. The unique key
becomes (project_id, provider_message_id); it also serves the per-project lookups by
wamid. No row changes.

Downgrade needs the old key: of messages two projects hold under one wamid, it keeps the
earliest.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("uq_messages_provider_message_id", type_="unique")
        batch.create_unique_constraint(
            "uq_messages_project_id_provider_message_id", ["project_id", "provider_message_id"]
        )


def downgrade() -> None:
    op.execute(
        "DELETE FROM messages WHERE provider_message_id IS NOT NULL AND EXISTS (SELECT 1 FROM "
        "messages o WHERE o.provider_message_id = messages.provider_message_id AND "
        "(o.created_at < messages.created_at OR (o.created_at = messages.created_at AND "
        "o.id < messages.id)))"
    )
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("uq_messages_project_id_provider_message_id", type_="unique")
        batch.create_unique_constraint("uq_messages_provider_message_id", ["provider_message_id"])
