"""AI fields: a text field given as `{"$ai": {...}}` is written by the node's provider
model at run time, from `ai_field_config.<field> = {"mode": "prompt", "prompt": "..."}`
(the prompt rendered with `{{vars.x}}`).

Each field is one journaled `llm` action with a key of its own (`<step key>:ai:<path>`),
made one after the other; the generated texts are read back from the journal, so a
crash or a replayed job never asks the model again for a field it already answered, and
the step continues with the fields still missing. Generated text is used as it is: it is
not rendered as a template (a model's output must not read variables or secrets).
"""

from __future__ import annotations

from typing import Any

from convoflow.engine.llm.journaled import KIND as LLM_KIND
from convoflow.engine.llm.journaled import llm_action
from convoflow.engine.signals import ActionDone, AwaitAction, Fail, Signal
from convoflow.engine.step import StepRun
from convoflow.engine.steps._ai import provider_model, usage_of
from convoflow.store import actions as action_store

MARK = ":ai:"
MAX_FIELD_TOKENS = 1024
SYSTEM = (
    "You write the text of one field of a WhatsApp message as the instructions say. "
    "Answer with that text only: no quotes around it, no explanation."
)


def is_ai_field(value: Any) -> bool:
    return isinstance(value, dict) and "$ai" in value


def find(value: Any, path: str = "") -> list[str]:
    """Dotted paths of the AI fields inside `value` (dicts and lists), in order."""
    if is_ai_field(value):
        return [path]
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(str(i), v) for i, v in enumerate(value)]
    found: list[str] = []
    for name, item in items:
        found += find(item, f"{path}.{name}" if path else name)
    return found


def _replace(value: Any, generated: dict[str, str], path: str = "") -> Any:
    if path in generated:
        return generated[path]
    if isinstance(value, dict):
        return {
            k: _replace(v, generated, f"{path}.{k}" if path else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _replace(v, generated, f"{path}.{i}" if path else str(i)) for i, v in enumerate(value)
        ]
    return value


def is_field_answer(signal: Signal) -> bool:
    return isinstance(signal, ActionDone) and MARK in signal.key


def record_answer(run: StepRun, signal: ActionDone) -> None:
    """The `ai_field_generated` event of one field (what it cost; not the text)."""
    result = signal.result
    payload = {
        "field": signal.key.rsplit(MARK, 1)[1],
        "ok": bool(result.get("ok")),
        "provider_model": result.get("provider_model_name"),
        "characters": len(str(result.get("text") or "")),
        **usage_of(result),
    }
    if not result.get("ok"):
        payload["error"] = result.get("error")
    run.emit("ai_field_generated", payload)


def _field_config(run: StepRun, path: str) -> dict[str, Any] | None:
    configs = getattr(run.config, "ai_field_config", None) or {}
    config = configs.get(path) or configs.get(path.rsplit(".", 1)[-1])
    return config if isinstance(config, dict) else None


async def _ask(run: StepRun, model: Any, path: str, key: str) -> AwaitAction | Fail:
    config = _field_config(run, path)
    prompt = config.get("prompt") if config is not None else None
    if config is None or config.get("mode", "prompt") != "prompt" or not isinstance(prompt, str):
        return Fail(
            f"node {run.node.id!r}: {path} is an AI field but ai_field_config.{path} is not "
            '{"mode": "prompt", "prompt": "..."}',
            {"code": "invalid_ai_field", "field": path},
        )
    text = await run.render(prompt, f"ai_field_config.{path}.prompt")
    request = llm_action(
        model,
        project_id=run.execution.project_id,
        system=SYSTEM,
        messages=[{"role": "user", "content": text}],
        temperature=getattr(run.config, "llm_temperature", None),
        max_tokens=MAX_FIELD_TOKENS,
        idempotency_key=key,
        purpose=f"ai_field:{path}",
    )
    return AwaitAction(LLM_KIND, request, key=key)


async def generate(run: StepRun, values: Any) -> Any | AwaitAction | Fail:
    """`values` with every AI field replaced by its generated text; or the call to make
    next (the step returns it, and calls this again when the answer comes back); or Fail
    (no model, no prompt, a call that failed after its retries)."""
    paths = find(values)
    if not paths:
        return values
    model = await provider_model(run)
    if isinstance(model, str):
        return Fail(
            f"node {run.node.id!r}: {paths[0]} is an AI field, and {model}",
            {"code": "no_provider_model", "field": paths[0]},
        )
    generated: dict[str, str] = {}
    for path in paths:
        key = f"{run.step_key}{MARK}{path}"
        journal = await action_store.get_journal(run.advance.conn, key)
        if journal is None:
            return await _ask(run, model, path, key)
        result = journal["result"] or {}
        if not result.get("ok"):
            return Fail(
                f"node {run.node.id!r}: AI field {path} could not be generated: "
                f"{result.get('error') or 'no answer'}",
                {"code": "ai_field_failed", "field": path},
            )
        generated[path] = str(result.get("text") or "").strip()
    return _replace(values, generated)
