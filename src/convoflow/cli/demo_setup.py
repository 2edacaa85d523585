"""What `convoflow demo` sets up: a workflow made active with an api_call trigger, and the
AI demo (a provider model pointing at the fake LLM, and the AI flow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from convoflow.process import Process
from convoflow.services.common import Actor

AI_WORKFLOW = "Demo: AI support (fake LLM)"
AI_MODEL = "demo-llm"  # what examples/ai-support.json names
AI_EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "ai-support.json"


async def ensure_active_workflow(
    engine: Process, actor: Actor, name: str, document: dict[str, Any]
) -> str:
    """The project's workflow called `name` (created from `document` if missing), active,
    with an api_call trigger."""
    from convoflow.services.workflows import lifecycle as workflow_api
    from convoflow.services.workflows import triggers
    from convoflow.services.workflows.lifecycle import WorkflowChanges
    from convoflow.store import triggers as trigger_store
    from convoflow.store import workflow_queries

    async with engine.db.read() as conn:
        workflow_id = await workflow_queries.find_by_column(
            conn, actor.project_id, "name", name, exclude_id=None
        )
    if workflow_id is None:
        row = await workflow_api.create(
            engine,
            actor,
            name=name,
            description=document.get("description"),
            definition=document.get("definition", document),
        )
        workflow_id = str(row["id"])
    await workflow_api.update(engine, actor, workflow_id, WorkflowChanges(status="active"))
    async with engine.db.read() as conn:
        has_trigger = await trigger_store.has_active(conn, workflow_id, "api_call")
    if not has_trigger:
        await triggers.create(
            engine, actor, workflow_id, triggers.TriggerSpec(trigger_type="api_call")
        )
    return workflow_id


async def ensure_suite(engine: Process, actor: Actor, workflow_id: str, suite: str) -> None:
    """The flow file's test suite (the text of `<flow>.test.yaml` beside it) stored with the
    workflow, for the console's Tests page, unless the workflow has one already; without
    its `flow:` line (a stored suite runs its own workflow)."""
    from convoflow.services.workflows import test_suites
    from convoflow.testing import stored

    if (await test_suites.get(engine, actor, workflow_id)).yaml:
        return
    lines = suite.splitlines(keepends=True)
    text = "".join(line for line in lines if not line.startswith("flow:"))
    await stored.save(engine, actor, workflow_id, text)


async def ensure_ai_demo(engine: Process, actor: Actor, llm_url: str) -> str | None:
    """The provider model `demo-llm` at `llm_url` (the fake LLM by default) and the AI
    workflow; None when the example file is not there (an installed wheel). The demo
    project may call private addresses: the fake LLM listens on loopback."""
    from convoflow.services.ai import provider_models as models

    if not AI_EXAMPLE.is_file():
        return None
    await models.allow_private_network(engine, actor)
    fields = models.ModelFields(name=AI_MODEL, base_url=llm_url, provider="openai", model="fake")
    await models.ensure(engine, actor, fields)
    document = json.loads(AI_EXAMPLE.read_text())
    return await ensure_active_workflow(engine, actor, AI_WORKFLOW, document)
