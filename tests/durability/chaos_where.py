"""Where a chaos run (tests/durability/whatsapp_chaos.py) stood when it failed: its
deadline passed or its server did not come up. The failure message must say what was
stuck (the harness, a server start, the users, the outbox, the status webhooks), since
that run cannot be repeated: its timing was the machine's load at the moment."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from convoflow.fakes.graph.server import FakeGraph
from convoflow.process import Process
from convoflow.store.schema import outbox
from tests.durability.chaos_count import Report, text_of, transcript

# The database may be what is stuck: the message then says so instead of hanging too.
_QUERY_SECONDS = 10.0


@dataclass
class Progress:
    """What the harness was doing, kept current by the drive loop."""

    phase: str = "starting the fork server"
    kills: int = 0
    starts: int = 0


async def where_things_stood(
    engine: Process, fake: FakeGraph, ages: dict[str, int], progress: Progress, report: Report
) -> str:
    return "; ".join(
        [
            f"the harness was {progress.phase}",
            f"kills {progress.kills} of {report.kills}, server starts {progress.starts}",
            _users(fake, ages),
            await _outbox(engine),
            _statuses(fake),
            f"attempts left without a result by the kills {report.in_flight_at_kills}",
        ]
    )


def _users(fake: FakeGraph, ages: dict[str, int]) -> str:
    """How far the users got: inbound messages taken, then each bot message received."""
    inbound = {
        w["wamid"] for w in fake.webhooks if w["kind"] == "inbound" and w["http_status"] == 200
    }
    received: dict[str, set[str]] = {}
    for record in fake.sent:
        text = text_of(record)
        if text is not None:
            received.setdefault(text.split(",")[0], set()).add(record["to"])
    steps = [text.split(",")[0] for text in transcript(0)]
    got = ", ".join(f"{len(received.get(step, ()))} {step!r}" for step in steps)
    return (
        f"users {len(received.get(steps[-1], ()))} of {len(ages)} done "
        f"(inbound messages taken {len(inbound)} of {2 * len(ages)}; received {got})"
    )


async def _outbox(engine: Process) -> str:
    async def count() -> dict[str, int]:
        async with engine.db.read() as conn:
            rows = await conn.execute(
                sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
            )
            return {str(status): int(n) for status, n in rows}

    try:
        by_status = await asyncio.wait_for(count(), _QUERY_SECONDS)
    except TimeoutError:
        return f"outbox rows: the database did not answer within {_QUERY_SECONDS:.0f}s"
    return f"outbox rows by status {by_status} (uncertain {by_status.get('uncertain', 0)})"


def _statuses(fake: FakeGraph) -> str:
    """The `sent` status webhooks: the last one's lag (the fake's first try to the
    server's 200) and the oldest the fake was still trying to deliver."""
    sent = [w for w in fake.webhooks if w["kind"] == "status:sent"]
    done = [w for w in sent if w.get("http_status") == 200]
    waiting = [w["at"] for w in sent if not _taken(w)]
    last: dict[str, Any] | None = max(done, key=lambda w: w["done_at"], default=None)
    lag = f"{last['done_at'] - last['at']:.1f}s" if last else "none taken"
    oldest = f"{time.time() - min(waiting):.1f}s old" if waiting else "none"
    return (
        f"`sent` statuses taken {len(done)} of {len(sent)}, last status lag {lag}, "
        f"oldest not taken {oldest}"
    )


def _taken(webhook: dict[str, Any]) -> bool:
    status = webhook.get("http_status")
    return status is not None and status < 500
