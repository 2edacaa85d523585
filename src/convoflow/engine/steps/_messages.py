"""Shared by the message-sending steps: addressing overrides."""

from __future__ import annotations

from typing import Any

from convoflow.engine.signals import Fail
from convoflow.engine.step import StepRun


async def addressing(run: StepRun) -> dict[str, Any] | Fail:
    """`to`/`from` overrides from the node's common message fields, if any; Fail when a
    sender field is set but renders empty."""
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
        if not value:
            continue
        rendered = (await run.render(value, name)).strip()
        if not rendered:
            # Sending from another number (the other field's, the conversation's) would
            # be a silent guess: the author named a sender and it is not there.
            return Fail(
                f"{run.node.node_type} {run.node.id!r}: its {name} {value!r} rendered empty; "
                "no number to send from",
                {"field": name},
            )
        out["from"] = {name: rendered}
        break
    return out
