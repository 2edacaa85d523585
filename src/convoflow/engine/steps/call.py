"""`call`: run another workflow as a child on the same conversation, then continue.

The parent waits (`call_workflow`) until the child ends or fails; on success the child's
vars are merged back, on failure the error goes to `vars.<save_error_to>` and the parent
still goes on (Kapso's behaviour)."""

from __future__ import annotations

from convoflow.engine.signals import CallChild, ChildFinished, Fail, Next, Outcome, Signal
from convoflow.engine.step import StepRun


async def enter(run: StepRun) -> Outcome:
    workflow_id = run.config.workflow_id
    if not workflow_id:
        return Fail(f"call {run.node.id!r} has no workflow_id", {"field": "workflow_id"})
    return CallChild(workflow_id=workflow_id)


async def on_signal(run: StepRun, signal: Signal) -> Outcome:
    if not isinstance(signal, ChildFinished):
        return Fail(f"call {run.node.id!r} got an unexpected {type(signal).__name__}")
    if signal.status == "ended":
        run.vars.update(signal.vars)
        run.emit(
            "variables_merged",
            {
                "source": "call_workflow",
                "child_execution_id": signal.child_id,
                "variables": sorted(signal.vars),
            },
        )
        return Next()
    error = dict(signal.error or {})
    error.setdefault("workflow_id", signal.workflow_id)
    error.setdefault("workflow_name", signal.workflow_name)
    if "error" not in error:
        error["error"] = error.get("message", "child workflow failed")
    run.vars[run.config.save_error_to] = error
    run.emit(
        "action_failed",
        {
            "action": "call_workflow",
            "child_execution_id": signal.child_id or None,
            "error": error.get("error"),
        },
    )
    return Next()
