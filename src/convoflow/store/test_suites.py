"""SQL for a workflow's stored conversation test suite (one per workflow)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.store.schema import workflow_test_suites


async def get_suite(conn: AsyncConnection, workflow_id: str) -> sa.RowMapping | None:
    result = await conn.execute(
        sa.select(workflow_test_suites).where(workflow_test_suites.c.workflow_id == workflow_id)
    )
    row: sa.RowMapping | None = result.mappings().first()
    return row


async def put_suite(
    conn: AsyncConnection, *, workflow_id: str, project_id: str, yaml: str, now: datetime
) -> None:
    """Insert or replace. Update first, insert when there was nothing: the same on every
    dialect; the caller holds the workflow's row lock, so two saves do not both insert."""
    updated = await conn.execute(
        sa.update(workflow_test_suites)
        .where(workflow_test_suites.c.workflow_id == workflow_id)
        .values(yaml=yaml, updated_at=now)
    )
    if updated.rowcount == 0:
        await conn.execute(
            sa.insert(workflow_test_suites),
            {
                "workflow_id": workflow_id,
                "project_id": project_id,
                "yaml": yaml,
                "created_at": now,
                "updated_at": now,
            },
        )


async def delete_suite(conn: AsyncConnection, workflow_id: str) -> None:
    await conn.execute(
        sa.delete(workflow_test_suites).where(workflow_test_suites.c.workflow_id == workflow_id)
    )
