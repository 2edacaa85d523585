"""`handoff`: give the conversation to a human; automation stops answering it."""

from __future__ import annotations

from convoflow.engine.signals import Handoff, Outcome
from convoflow.engine.step import StepRun


async def enter(run: StepRun) -> Outcome:
    config = run.config
    reason = await run.render(config.reason, "reason") if config.reason else None
    context_data = await run.render_any(config.context_data, "context_data")
    return Handoff(reason=reason, context_data=context_data)
