"""`wait_for_response`: park until the user answers (or the optional timeout fires).

Input that reached the conversation while the execution was busy elsewhere (a delay, a
webhook call) is kept pending and answers the next wait at once, in arrival order.
"""

from __future__ import annotations

from datetime import timedelta

from convoflow.clock import utc_iso
from convoflow.engine import status as st
from convoflow.engine.signals import Fail, Next, Outcome, Park, Signal, TimerFired, UserInput
from convoflow.engine.step import StepRun


async def enter(run: StepRun) -> Outcome:
    pending = await run.advance.take_pending_input(run.execution)
    if pending is not None:
        return record_input(run, pending, save_to=run.config.save_response_to)
    config = run.config
    timer_at = None
    if config.has_timeout and config.timeout_seconds:
        timer_at = run.now + timedelta(seconds=config.timeout_seconds)
    return Park(
        status=st.WAITING,
        waiting_reason=st.WAIT_FOR_RESPONSE,
        cursor={"phase": "await_input"},
        timer_at=timer_at,
        timer_purpose="wait_timeout" if timer_at else None,
    )


async def on_signal(run: StepRun, signal: Signal) -> Outcome:
    if isinstance(signal, UserInput):
        return record_input(run, signal, save_to=run.config.save_response_to)
    if isinstance(signal, TimerFired) and signal.purpose == "wait_timeout":
        run.execution.system["last_resume"] = {"reason": "timeout", "at": utc_iso(run.now)}
        run.emit("wait_timeout", {"timeout_seconds": run.config.timeout_seconds})
        return Next()
    return Fail(f"wait_for_response {run.node.id!r} got an unexpected {type(signal).__name__}")


def record_input(run: StepRun, signal: UserInput, *, save_to: str | None) -> Outcome:
    """Write the user's input into the context (Kapso's variables) and move on."""
    if signal.variables:
        run.vars.update(signal.variables)
        run.emit("variables_merged", {"variables": sorted(signal.variables), "source": "resume"})
    run.vars["last_user_input"] = signal.value
    run.vars["last_user_message"] = (
        signal.message if signal.message is not None else {"type": "text", "text": signal.value}
    )
    if save_to:
        run.vars[save_to] = signal.value
    run.execution.system["last_resume"] = {"reason": "user_input", "at": utc_iso(run.now)}
    run.emit(
        "user_input_received",
        {"input": signal.value, "source": signal.source, "message_ids": list(signal.message_ids)},
        direction="inbound",
    )
    return Next()
