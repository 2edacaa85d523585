"""`secrets rotate` over the action journal: only the requests holding a sealed token are
read (a journal of thousands of LLM-free webhook rows was loaded whole with .all()), in
batches by id, each sealed one rewritten once. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from convoflow.store.db import Database
from convoflow.store.schema import action_journal
from convoflow.store.secret_columns import rewrite_journal

SEALED = {"op": "call", "url": "https://mcp.example", "headers_sealed": "gAAAAAold"}


def _row(index: int, request: dict[str, Any], kind: str = "mcp") -> dict[str, Any]:
    return {
        "id": f"a{index:04d}",
        "execution_id": "e1",
        "idempotency_key": f"k{index}",
        "node_id": "n",
        "kind": kind,
        "request": request,
        "status": "done",
        "attempts": 1,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


async def test_only_sealed_requests_are_read_in_batches(db_url: str) -> None:
    rows = [
        _row(0, {"op": "call", "url": "https://plain.example", "headers_sealed": None}),
        _row(1, SEALED),
        _row(2, {"op": "list", "servers": [{"server": "s", "headers_sealed": "gAAAAAold"}]}),
        _row(3, {"method": "POST", "body": {"a": 1}}),
        _row(4, {**SEALED, "url_sealed": "gAAAAAold"}),
        _row(5, SEALED, kind="webhook"),  # another kind: not this pass
        _row(6, SEALED),
    ]
    seen: list[dict[str, Any]] = []

    def reseal(request: dict[str, Any]) -> tuple[dict[str, Any], int]:
        seen.append(request)
        count = 0
        holders = [request, *request.get("servers", [])]
        for holder in holders:
            for field in ("headers_sealed", "url_sealed"):
                if holder.get(field):
                    holder[field] = "gAAAAAnew"
                    count += 1
        return request, count

    db = Database(db_url, pool_size=1)
    try:
        async with db.write() as conn:
            await conn.execute(sa.insert(action_journal), rows)
        async with db.write() as conn:
            rewritten = await conn.run_sync(
                lambda sync: rewrite_journal(sync, "mcp", reseal, batch=2)
            )
        async with db.read() as conn:
            stored = (await conn.execute(sa.select(action_journal.c.request))).scalars().all()
    finally:
        await db.dispose()
    # Rows 1, 2, 4, 6 hold tokens (five in all); 0 and 3 were never handed over.
    assert rewritten == 5
    assert len(seen) == 4 and all("gAAAAA" in repr(r) for r in seen)
    assert "gAAAAAold" in repr(stored)  # the webhook row, left to its own pass
    assert repr(stored).count("gAAAAAold") == 1
