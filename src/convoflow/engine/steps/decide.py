"""`decide`: pick one outgoing edge by condition label.

`rules` (ours) evaluates each condition's expression in order, first true wins, a
condition without expression is the default. `function` asks a project function for
`{next_edge, vars}` (an external call, journaled). `ai` asks the LLM provider; without one
it takes the first condition and says why. Any invalid or failed routing falls back to
the first condition, as Kapso does.
"""

from __future__ import annotations

from typing import Any

from convoflow.engine.signals import ActionDone, AwaitAction, Fail, Next, Outcome, Signal
from convoflow.engine.step import StepRun
from convoflow.engine.steps.function import function_request
from convoflow.graph.expressions import evaluate_condition


async def enter(run: StepRun) -> Outcome:
    config = run.config
    if config.decision_type == "rules":
        return _decide_by_rules(run)
    if config.decision_type == "function":
        request = await function_request(run, config.function_id, available_edges=config.labels)
        if isinstance(request, Fail):
            return _fallback(run, f"function routing unavailable: {request.message}")
        return AwaitAction("function", request)
    if run.advance.runtime.llm is None:
        return _fallback(run, "no LLM provider configured; took the first condition")
    return _fallback(run, "AI decisions are not available yet; took the first condition")


async def on_signal(run: StepRun, signal: Signal) -> Outcome:
    if not isinstance(signal, ActionDone):
        return Fail(f"decide {run.node.id!r} got an unexpected {type(signal).__name__}")
    result = signal.result
    if not result.get("ok"):
        return _fallback(run, f"function failed: {result.get('error') or result.get('status')}")
    body = result.get("body")
    if not isinstance(body, dict):
        return _fallback(run, "function response is not a JSON object with next_edge")
    new_vars = body.get("vars")
    if isinstance(new_vars, dict) and new_vars:
        run.set_vars(new_vars, source="decide_function")
    label = body.get("next_edge")
    if not isinstance(label, str) or label not in run.config.labels:
        return _fallback(run, f"function returned next_edge {label!r}, not one of the conditions")
    run.emit(
        "decision_evaluated", {"decision_type": "function", "selected": label}, edge_label=label
    )
    return Next(label)


def _decide_by_rules(run: StepRun) -> Outcome:
    evaluations: list[dict[str, Any]] = []
    default_label: str | None = None
    chosen: str | None = None
    for condition in run.config.conditions:
        if condition.expression is None:
            default_label = default_label or condition.label
            continue
        matched, error = evaluate_condition(condition.expression, run.scope)
        evaluations.append({"label": condition.label, "result": matched, "error": error})
        if matched:
            chosen = condition.label
            break
    reason = "matched"
    if chosen is None and default_label is not None:
        chosen, reason = default_label, "default"
    if chosen is None:
        return _fallback(run, "no condition matched and there is no default", evaluations)
    run.emit(
        "decision_evaluated",
        {
            "decision_type": "rules",
            "selected": chosen,
            "reason": reason,
            "evaluations": evaluations,
        },
        edge_label=chosen,
    )
    return Next(chosen)


def _fallback(run: StepRun, why: str, evaluations: list[dict[str, Any]] | None = None) -> Outcome:
    labels = run.config.labels
    if not labels:
        return Fail(f"decide {run.node.id!r} has no conditions")
    payload: dict[str, Any] = {
        "decision_type": run.config.decision_type,
        "selected": labels[0],
        "reason": "fallback",
        "why": why,
    }
    if evaluations is not None:
        payload["evaluations"] = evaluations
    run.emit("decision_evaluated", payload, edge_label=labels[0])
    return Next(labels[0])
