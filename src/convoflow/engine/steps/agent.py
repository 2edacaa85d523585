"""`agent`: an LLM loop. Validated today; running it needs an LLM provider (AI issue)."""

from __future__ import annotations

from convoflow.engine.signals import Fail, Outcome
from convoflow.engine.step import StepRun


async def enter(run: StepRun) -> Outcome:
    return Fail(
        f"agent node {run.node.id!r} cannot run: no LLM provider configured "
        "(convoflow does not run agent nodes yet)",
        {"code": "no_llm_provider"},
    )
