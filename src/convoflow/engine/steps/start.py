"""`start`: the entry node; it only moves on."""

from __future__ import annotations

from convoflow.engine.signals import Next, Outcome
from convoflow.engine.step import StepRun


async def enter(run: StepRun) -> Outcome:
    return Next()
