"""Counting a chaos run (tests/durability/whatsapp_chaos.py): what each user received at
the fake Graph API (lost, duplicated, out of order), inbound wamids taken more than once,
how lost attempts were settled, and how long statuses took to reach the server."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from convoflow.fakes.graph.server import FakeGraph
from convoflow.process import Process
from convoflow.store.schema import execution_events, executions, messages


def transcript(age: int) -> list[str]:
    return ["Hello!", "How old are you?", f"Thanks, {age}.", "Bye."]


@dataclass
class Report:
    conversations: int
    kills: int
    statuses: bool
    seconds: float = 0.0
    sends: int = 0  # accepted by the fake
    lost: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    double_processed_inbound: int = 0
    in_flight_at_kills: int = 0  # distinct attempts left without a result by the kills
    reconciled: int = 0
    resent_after_crash: int = 0
    # Where the time goes: the last kill (from the start), the mean time from a restart
    # to the server's first 200 on /healthz, and how long a `sent` status took from the
    # fake's first try to the server's 200 (p50, p99, max).
    last_kill_seconds: float = 0.0
    drive_seconds: float = 0.0  # from the first start until every user said bye
    restart_seconds: float = 0.0
    status_lag: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # The same, counted from the later of the fake's first try and the server's last
    # start before the 200 (p50, p99, max): what the hold must exceed, since each
    # start-up holds the uncertain attempts for the whole hold (engine/start_up.py).
    status_lag_since_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # Duplicates whose earlier copy's `sent` status reached the server only after the
    # copy was sent again (or never): that status took longer than the hold of server
    # uptime, which at-least-once allows. A duplicate not explained so would be a
    # reconciliation bug.
    late_status_duplicates: int = 0
    problems: list[str] = field(default_factory=list)


def _history(fake: FakeGraph, user: str) -> list[Any]:
    """A duplicated user's sends and their status webhooks, for the failure message."""
    sends = [r for r in fake.sent if r["to"] == user and text_of(r)]
    wamids = {r["wamid"] for r in sends}
    hooks = [w for w in fake.webhooks if w["wamid"] in wamids]
    return [(r["received_at"], r["wamid"], text_of(r)) for r in sends] + hooks


def _late_status_duplicates(fake: FakeGraph, user: str, taken: dict[str, float]) -> int:
    """Copies of one text that reached the fake before the server had taken (200) the
    `sent` status of any earlier copy (`taken`: wamid -> when). A status taken while the
    resend was already on its way cannot stop it either: that narrow case counts as not
    late, so an unexplained duplicate is a lead, not a proof."""
    earlier: dict[str, list[str]] = {}
    late = 0
    for record in fake.sent:
        text = text_of(record)
        if text is None or record["to"] != user:
            continue
        sent_at = datetime.fromisoformat(record["received_at"]).timestamp()
        before = earlier.setdefault(text, [])
        if before and all(taken.get(wamid, float("inf")) > sent_at for wamid in before):
            late += 1
        before.append(record["wamid"])
    return late


def text_of(record: dict[str, Any]) -> str | None:
    if record["kind"] != "message" or record["http_status"] != 200:
        return None
    return str(record["body"].get("text", {}).get("body"))


def _status_lag(fake: FakeGraph, starts: list[float] | None = None) -> tuple[float, float, float]:
    """p50, p99, max of the time from the fake's first try of each `sent` status (or,
    with `starts`, the server's last start before the 200, if later) to the 200."""
    lags = sorted(
        w["done_at"] - max([w["at"], *(t for t in starts or () if t <= w["done_at"])])
        for w in fake.webhooks
        if w["kind"] == "status:sent" and w.get("http_status") == 200
    )
    if not lags:
        return (0.0, 0.0, 0.0)
    pick = [lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))], lags[-1]]
    return (round(pick[0], 2), round(pick[1], 2), round(pick[2], 2))


async def count_run(
    engine: Process, fake: FakeGraph, ages: dict[str, int], report: Report, starts: list[float]
) -> None:
    """`starts`: when each server was started (time.time())."""
    report.status_lag = _status_lag(fake)
    report.status_lag_since_start = _status_lag(fake, starts)
    taken = {
        w["wamid"]: w["done_at"]
        for w in fake.webhooks
        if w["kind"] == "status:sent" and w.get("http_status") == 200
    }
    received: dict[str, list[str]] = {user: [] for user in ages}
    for record in fake.sent:
        text = text_of(record)
        if text is not None:
            received[record["to"]].append(text)
            report.sends += 1
    for user, age in ages.items():
        got, expected = received[user], transcript(age)
        report.duplicates += len(got) - len(set(got))
        if len(got) != len(set(got)):
            report.late_status_duplicates += _late_status_duplicates(fake, user, taken)
            report.problems.append(f"{user} got {got}: {_history(fake, user)}")
        report.lost += len(set(expected) - set(got))
        if list(dict.fromkeys(got)) != expected:
            report.out_of_order += 1
            report.problems.append(f"{user}: {got}")
    async with engine.db.read() as conn:
        inputs = await conn.execute(
            sa.select(execution_events.c.execution_id, sa.func.count())
            .where(execution_events.c.event_type == "user_input_received")
            .group_by(execution_events.c.execution_id)
        )
        report.double_processed_inbound += sum(count - 1 for _, count in inputs if count > 1)
        starts = (await conn.execute(sa.select(sa.func.count()).select_from(executions))).scalar()
        report.double_processed_inbound += int(starts or 0) - len(ages)
        inbound = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(messages)
                .where(messages.c.direction == "inbound")
            )
        ).scalar()
        if inbound != 2 * len(ages):
            report.problems.append(f"{inbound} inbound messages stored, expected {2 * len(ages)}")
        outcomes = await conn.execute(
            sa.select(execution_events.c.payload).where(
                execution_events.c.event_type == "action_performed"
            )
        )
        for (payload,) in outcomes:
            if payload.get("outcome") == "reconciled":
                report.reconciled += 1
            elif payload.get("outcome") == "resent_after_crash":
                report.resent_after_crash += 1
