"""`send_template`: queue a WhatsApp template message with rendered parameters."""

from __future__ import annotations

from typing import Any

from convoflow.engine.signals import ActionDone, AwaitAction, Fail, Next, Outcome, Signal
from convoflow.engine.step import StepRun
from convoflow.engine.steps import _ai_fields as ai_fields
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
    # Template parameters may be AI fields (`ai_field_config["parameters.<key>"]`).
    generated = await ai_fields.generate(run, template)
    if isinstance(generated, AwaitAction | Fail):
        return generated
    template = generated
    addressed = await addressing(run)
    if isinstance(addressed, Fail):
        return addressed
    run.send({"type": "template", "template": template, **addressed})
    return Next()


async def on_signal(run: StepRun, signal: Signal) -> Outcome:
    if isinstance(signal, ActionDone) and ai_fields.is_field_answer(signal):
        ai_fields.record_answer(run, signal)
        return await enter(run)
    return Fail(f"send_template {run.node.id!r} got an unexpected {type(signal).__name__}")
