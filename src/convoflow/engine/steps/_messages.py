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
    # Rendered like the recipient: activation checks only literal numbers, and the
    # channel refuses a rendered one that is not the execution's project's. Kapso's
    # older `whatsapp_config_id` (its config id or the phone_number_id) counts when
    # `phone_number_id` is not set.
    for name in ("phone_number_id", "whatsapp_config_id"):
        value = getattr(config, name, None)
        rendered = (await run.render(value, name)).strip() if value else ""
        if rendered:
            out["from"] = {name: rendered}
            break
    return out
