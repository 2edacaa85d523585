"""`send_text`: queue a text message; with `delay_seconds`, after a durable timer."""

from __future__ import annotations

from datetime import timedelta

from convoflow.engine import status as st
from convoflow.engine.signals import (
    ActionDone,
    AwaitAction,
    Fail,
    Next,
    Outcome,
    Park,
    Signal,
    TimerFired,
)
from convoflow.engine.step import StepRun
from convoflow.engine.steps import _ai_fields as ai_fields
from convoflow.engine.steps._messages import addressing


async def enter(run: StepRun) -> Outcome:
    delay = run.config.delay_seconds or 0
    if delay > 0:
        # A timer job, not a sleep: the delay survives restarts and costs no memory.
        return Park(
            status=st.RUNNING,
            cursor={"phase": "delay"},
            timer_at=run.now + timedelta(seconds=delay),
            timer_purpose="delay",
        )
    return await _send(run)


async def on_signal(run: StepRun, signal: Signal) -> Outcome:
    if isinstance(signal, TimerFired) and signal.purpose == "delay":
        return await _send(run)
    if isinstance(signal, ActionDone) and ai_fields.is_field_answer(signal):
        ai_fields.record_answer(run, signal)
        return await _send(run)
    return Fail(f"send_text {run.node.id!r} got an unexpected {type(signal).__name__}")


async def _send(run: StepRun) -> Outcome:
    message = run.config.message
    if ai_fields.is_ai_field(message):
        generated = await ai_fields.generate(run, {"message": message})
        if isinstance(generated, AwaitAction | Fail):
            return generated
        text = generated["message"]  # the model's text, not a template
    else:
        text = await run.render(str(message), "message")
    addressed = await addressing(run)
    if isinstance(addressed, Fail):
        return addressed
    run.send({"type": "text", "text": text, **addressed})
    return Next()
