"""Shared by the message-sending steps: addressing overrides."""

from __future__ import annotations

from typing import Any

from convoflow.engine.step import StepRun


async def addressing(run: StepRun) -> dict[str, Any]:
    """`to`/`from` overrides from the node's common message fields, if any."""
    config = run.config
    out: dict[str, Any] = {}
    to_number = getattr(config, "to_phone_number", None)
    if to_number:
        out["to"] = {"phone_number": await run.render(to_number, "to_phone_number")}
    phone_number_id = getattr(config, "phone_number_id", None)
    if phone_number_id:
        # Rendered like the recipient: activation checks only literal numbers, and the
        # channel refuses a rendered one that is not the execution's project's.
        rendered = (await run.render(phone_number_id, "phone_number_id")).strip()
        if rendered:
            out["from"] = {"phone_number_id": rendered}
    return out
