"""`send_interactive`: queue buttons, a list, a CTA URL, a Flow or a location request.

The message stays channel-neutral (Kapso's config field names, rendered); the WhatsApp
channel turns it into Meta's body. It does not wait: pair it with wait_for_response.
"""

from __future__ import annotations

from typing import Any

from convoflow.engine.signals import ActionDone, AwaitAction, Fail, Next, Outcome, Signal
from convoflow.engine.step import StepRun
from convoflow.engine.steps import _ai_fields as ai_fields
from convoflow.engine.steps._messages import addressing

_NOT_CONTENT = {
    "phone_number_id",
    "whatsapp_config_id",
    "to_phone_number",
    "provider_model_id",
    "provider_model_name",
    "ai_field_config",
}


async def enter(run: StepRun) -> Outcome:
    content: dict[str, Any] = {
        key: value
        for key, value in run.config.model_dump(exclude_none=True).items()
        if key not in _NOT_CONTENT
    }
    # Rendered first: the AI fields' generated text is not a template.
    interactive = await ai_fields.generate(run, await run.render_any(content, "interactive"))
    if isinstance(interactive, AwaitAction | Fail):
        return interactive
    addressed = await addressing(run)
    if isinstance(addressed, Fail):
        return addressed
    run.send({"type": "interactive", "interactive": interactive, **addressed})
    return Next()


async def on_signal(run: StepRun, signal: Signal) -> Outcome:
    if isinstance(signal, ActionDone) and ai_fields.is_field_answer(signal):
        ai_fields.record_answer(run, signal)
        return await enter(run)
    return Fail(f"send_interactive {run.node.id!r} got an unexpected {type(signal).__name__}")
