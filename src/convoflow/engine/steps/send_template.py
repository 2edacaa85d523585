"""`send_template`: queue a WhatsApp template message with rendered parameters."""

from __future__ import annotations

from typing import Any

from convoflow.engine.signals import Next, Outcome
from convoflow.engine.step import StepRun
from convoflow.engine.steps._messages import addressing


async def enter(run: StepRun) -> Outcome:
    config = run.config
    template: dict[str, Any] = {
        "id": config.template_id,
        "name": config.template_name,
        "parameters": await run.render_any(config.parameters, "parameters"),
    }
    extra = config.model_extra or {}
    for key in ("language", "language_code", "components"):
        if key in extra:
            template[key] = await run.render_any(extra[key], key)
    run.send({"type": "template", "template": template, **await addressing(run)})
    return Next()
