"""`convoflow demo`'s AI flow runs against the fake LLM with the shipped script
(examples/fake-llm.yaml), over Kapso's API as the demo prints it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from convoflow.api.app import create_app
from convoflow.cli import app as cli
from convoflow.fakes.llm.rules import Script
from convoflow.fakes.llm.server import FakeLLM
from convoflow.fakes.loopback import serve_app
from convoflow.process import Process
from convoflow.store import projects as project_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
P = "/platform/v1"


async def _run_demo(db_url: str, llm_url: str) -> tuple[str, str]:
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["demo", "--database-url", db_url, "--llm-url", llm_url]
    )
    assert result.exit_code == 0, result.output
    match = re.search(r"AI workflow: (\S+)", result.stdout)
    assert match is not None, result.stdout
    return match.group(1), result.stdout.strip().splitlines()[-1]


async def _conversation(
    engine: Process, api: httpx.AsyncClient, workflow_id: str, reply: str
) -> dict[str, Any]:
    body = {
        "workflow_execution": {"phone_number": "+15550001111", "context": {"channel": "sandbox"}}
    }
    started = await api.post(f"{P}/workflows/{workflow_id}/executions", json=body)
    assert started.status_code == 202, started.text
    execution_id = started.json()["data"]["id"]
    await engine.worker.drain()
    resumed = await api.post(
        f"{P}/workflow_executions/{execution_id}/resume", json={"message": {"data": reply}}
    )
    assert resumed.status_code in (200, 202), resumed.text
    await engine.worker.drain()
    return (await api.get(f"{P}/workflow_executions/{execution_id}")).json()["data"]


async def test_the_demo_ai_flow_routes_through_the_fake_llm(db_url: str, engine: Process) -> None:
    fake = FakeLLM(Script.from_file(EXAMPLES / "fake-llm.yaml"))
    async with serve_app(fake.app) as url:
        workflow_id, key = await _run_demo(db_url, f"{url}/v1")
        again, _ = await _run_demo(db_url, f"{url}/v1")  # idempotent: the same workflow
        assert again == workflow_id
        transport = httpx.ASGITransport(app=create_app(engine, run_worker=False))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers={"X-API-Key": key}
        ) as api:
            refund = await _conversation(engine, api, workflow_id, "I was charged twice")
            parcel = await _conversation(engine, api, workflow_id, "where is my parcel?")
    for execution, label in ((refund, "billing"), (parcel, "shipping")):
        assert execution["status"] == "ended", execution
        [decision] = [e for e in execution["events"] if e["event_type"] == "decision_evaluated"]
        assert decision["payload"]["selected"] == label, decision
    greeting = fake.requests[0]["body"]["messages"][-1]["content"]
    assert greeting.startswith("Greet the customer")
    async with engine.db.read() as conn:
        project = await project_store.find_project(conn, "demo")
        assert project is not None
        settings = await project_store.get_settings(conn, project["id"])
    assert settings["allow_private_network"] is True  # the fake LLM is on loopback
