"""The agent node's options that shape each turn's request (kapso-reference §2.2) beyond
the conversation: which built-in tools are offered, the system prompt an observer
execution gets (`observer_prompt_mode`), what the provider is asked for
(`reasoning_effort`, `prompt_cache_ttl`), and which options cannot be honoured here and
are reported once per visit (`agent_options_ignored`) instead of being silently dropped."""

from __future__ import annotations

from typing import Any

from convoflow.engine.step import StepRun
from convoflow.engine.steps import _agent_tools as tools

# In an observer execution (outbound disabled) with observer_prompt_mode analysis_only,
# the tools that talk to the user or wait for them are not offered.
_USER_FACING = frozenset({"send_notification_to_user", "send_media", "enter_waiting"})
ANALYSIS_ONLY_NOTE = (
    "You are observing this conversation: you cannot write to the user or wait for them. "
    "Analyse what happened, use your tools, and finish with complete_task."
)


def analysis_only(run: StepRun) -> bool:
    return bool(run.execution.observer) and run.config.observer_prompt_mode == "analysis_only"


def offered(run: StepRun) -> list[str]:
    names = tools.offered(run.config.enabled_default_tools)
    if analysis_only(run):
        names = [name for name in names if name not in _USER_FACING]
    return names


def sends_assistant_text(run: StepRun) -> bool:
    mode = run.config.message_delivery_mode
    return mode == "auto_send_assistant_text" and not analysis_only(run)


async def system_prompt(run: StepRun) -> str:
    prompt = await run.render(run.config.system_prompt, "system_prompt")
    if analysis_only(run):
        return f"{prompt}\n\n{ANALYSIS_ONLY_NOTE}" if prompt else ANALYSIS_ONLY_NOTE
    return prompt


def provider_options(run: StepRun, provider: str) -> dict[str, Any]:
    """What the journaled request asks the provider for beyond the messages: OpenAI takes
    `reasoning_effort`; Anthropic takes prompt caching (`cache_control` with the ttl)."""
    config = run.config
    if provider == "anthropic":
        return {"cache_ttl": config.prompt_cache_ttl}
    return {"reasoning_effort": config.reasoning_effort}


def ignored(run: StepRun, provider: str) -> list[dict[str, str]]:
    """The options set on the node that this visit cannot honour, and why."""
    config = run.config
    out: list[dict[str, str]] = []

    def note(option: str, why: str) -> None:
        out.append({"option": option, "why": why})

    if config.reasoning_effort and provider == "anthropic":
        note("reasoning_effort", "not sent to Anthropic models (extended thinking is not used)")
    if config.prompt_cache_ttl == "1h" and provider != "anthropic":
        note("prompt_cache_ttl", "OpenAI-compatible servers cache prompts by themselves")
    out += [{"option": field, "why": why} for field, why in config.unsupported_options()]
    return out
