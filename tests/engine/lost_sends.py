"""A send a crash left uncertain, its hold run out while no server was up: the row the
start-up hold tests (test_reconnect.py, test_start_up_hold.py) watch a starting server
hold again."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from convoflow.engine.advance import Advance
from convoflow.process import Process
from convoflow.store.schema import outbox

LOST_ID = "o-held"


async def insert_lost_send(engine: Process, project_id: str, now: datetime) -> None:
    async def lost(adv: Advance) -> None:
        await adv.conn.execute(
            outbox.insert().values(
                id=LOST_ID, project_id=project_id, channel="whatsapp",
                idempotency_key="e-1:1", message={"type": "text", "text": {"body": "hi"}},
                status="uncertain", attempts=1, created_at=now - timedelta(minutes=5),
                uncertain_since=now - timedelta(minutes=4),
                next_attempt_at=now - timedelta(minutes=3),  # its hold ran out while down
            )
        )  # fmt: skip

    await engine.runtime.op(lost)


async def lost_send(engine: Process) -> dict[str, Any]:
    async with engine.db.read() as conn:
        found = await conn.execute(sa.select(outbox).where(outbox.c.id == LOST_ID))
        return dict(found.mappings().one())


async def wait_until_held(engine: Process, held_until: datetime, seconds: float) -> dict[str, Any]:
    """The row once its next attempt is `held_until`, or as it is after `seconds`."""
    deadline = time.monotonic() + seconds
    row = await lost_send(engine)
    while row["next_attempt_at"] != held_until and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        row = await lost_send(engine)
    return row
