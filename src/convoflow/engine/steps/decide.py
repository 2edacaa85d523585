"""`decide`: pick one outgoing edge by condition label.

`rules` (ours) evaluates each condition's expression in order, first true wins, a
condition without expression is the default. `function` asks a project function for
`{next_edge, vars}` (an external call, journaled). `ai` asks the node's provider model to
name one condition, given each one's label and description and the conversation's last
`llm_history_messages` messages (a journaled `llm` action: a crash after the answer was
recorded never asks again); an answer that is no label, a failed call or no model takes
the first condition, the reason on the event. Any invalid or failed routing falls back to
the first condition, as Kapso does.
"""

from __future__ import annotations

from typing import Any

from convoflow.engine.llm.journaled import KIND as LLM_KIND
from convoflow.engine.llm.journaled import llm_action
from convoflow.engine.signals import ActionDone, AwaitAction, Fail, Next, Outcome, Signal
from convoflow.engine.step import StepRun
from convoflow.engine.steps._ai import conversation_turns, provider_model, usage_of
from convoflow.engine.steps.function import function_request
from convoflow.graph.expressions import evaluate_condition
from convoflow.graph.nodes.decide import DecideCondition

MAX_ANSWER_CHARS = 200  # of the model's answer, on the event


async def enter(run: StepRun) -> Outcome:
    config = run.config
    if config.decision_type == "rules":
        return _decide_by_rules(run)
    if config.decision_type == "function":
        request = await function_request(run, config.function_id, available_edges=config.labels)
        if isinstance(request, Fail):
            return _fallback(run, f"function routing unavailable: {request.message}")
        return AwaitAction("function", request)
    return await _ask_model(run)


async def on_signal(run: StepRun, signal: Signal) -> Outcome:
    if not isinstance(signal, ActionDone):
        return Fail(f"decide {run.node.id!r} got an unexpected {type(signal).__name__}")
    result = signal.result
    if run.config.decision_type == "ai":
        return _model_answered(run, result)
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


async def _ask_model(run: StepRun) -> Outcome:
    model = await provider_model(run)
    if isinstance(model, str):
        return _fallback(run, f"{model}; took the first condition")
    config = run.config
    request = llm_action(
        model,
        project_id=run.execution.project_id,
        system=_routing_prompt(config.conditions),
        messages=await conversation_turns(run, config.llm_history_messages),
        temperature=config.llm_temperature,
        max_tokens=config.llm_max_tokens,
        idempotency_key=run.step_key,
        purpose="decide",
    )
    return AwaitAction(LLM_KIND, request)


def _routing_prompt(conditions: list[DecideCondition]) -> str:
    lines = [f"- {c.label}: {c.description or c.label}" for c in conditions]
    return (
        "You route a WhatsApp conversation. Read the conversation and choose the one "
        "condition that applies to the user's latest message.\nConditions (label: "
        "description):\n" + "\n".join(lines) + "\nAnswer with the label only, exactly as "
        "written, and nothing else."
    )


def _label_in(answer: str, labels: list[str]) -> str | None:
    """The label the answer is, ignoring case, surrounding quotes, punctuation and a
    trailing explanation on the following lines."""
    lines = answer.strip().splitlines()
    cleaned = (lines[0] if lines else "").strip().strip("\"'`*.!:;, ").strip().casefold()
    return next((label for label in labels if label.casefold() == cleaned), None)


def _model_answered(run: StepRun, result: dict[str, Any]) -> Outcome:
    call = {"provider_model": result.get("provider_model_name"), **usage_of(result)}
    if not result.get("ok"):
        return _fallback(run, f"the model call failed: {result.get('error')}", extra=call)
    answer = str(result.get("text") or "")
    call["answer"] = answer[:MAX_ANSWER_CHARS]
    label = _label_in(answer, run.config.labels)
    if label is None:
        why = f"the model answered {answer[:MAX_ANSWER_CHARS]!r}, not one of the conditions"
        return _fallback(run, why, extra=call)
    payload = {"decision_type": "ai", "selected": label, "reason": "matched", **call}
    run.emit("decision_evaluated", payload, edge_label=label)
    return Next(label)


def _fallback(
    run: StepRun,
    why: str,
    evaluations: list[dict[str, Any]] | None = None,
    *,
    extra: dict[str, Any] | None = None,
) -> Outcome:
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
    payload.update(extra or {})
    run.emit("decision_evaluated", payload, edge_label=labels[0])
    return Next(labels[0])
