"""A real server for the schemathesis run: a seeded throwaway database, `convoflow serve`
in a process of its own on a loopback port, and the fake Graph API in another (so sends
to numbers the fuzzer connects answer like Meta, not with a connection error)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx

from convoflow.config import Settings
from convoflow.engine.advance import Advance
from convoflow.process import Process, build_process
from convoflow.services.common import Actor
from convoflow.services.executions.commands import StartRequest, start
from convoflow.services.functions import project_functions as functions
from convoflow.services.projects.accounts import create_api_key, create_project
from convoflow.services.workflows import lifecycle as workflow_api
from convoflow.services.workflows import triggers
from convoflow.services.workflows.lifecycle import WorkflowChanges
from tests.api.helpers import canonical

START_SECONDS = 60.0


async def _seed_engine(engine: Process) -> tuple[str, dict[str, str]]:
    """A key, and real ids for each path parameter name."""

    async def project(adv: Advance) -> tuple[str, str]:
        project_id = await create_project(adv.conn, engine.clock, "fuzz")
        return project_id, await create_api_key(adv.conn, engine.clock, project_id)

    project_id, key = await engine.runtime.op(project)
    # As the CLI seeds (no key id): created_by ids are API key ids (uuids) or null.
    actor = Actor(project_id=project_id, key_name="seed")
    workflow = await workflow_api.create(engine, actor, name="Seed", definition=canonical())
    workflow_id = str(workflow["id"])
    await workflow_api.update(engine, actor, workflow_id, WorkflowChanges(status="active"))
    trigger = await triggers.create(
        engine, actor, workflow_id, triggers.TriggerSpec(trigger_type="api_call")
    )
    accepted = (
        await start(
            engine,
            actor,
            workflow_id,
            StartRequest(phone_number="+15550001111", context={"channel": "sandbox"}),
        )
    ).row
    function = await functions.create(
        engine, actor, functions.FunctionFields(name="Seed function", code="x")
    )
    async with engine.db.read() as conn:
        from convoflow.store import execution_queries

        events = await execution_queries.timeline(conn, str(accepted["id"]))
    ids = {
        "workflow_id": workflow_id,
        "trigger_id": str(trigger["id"]),
        "execution_id": str(accepted["id"]),
        "event_id": str(events[0]["id"]),
        "conversation_id": str(accepted["conversation_id"]),
        "function_id": str(function["id"]),
        "flow_id": workflow_id,
    }
    return key, ids


def seed(url: str) -> tuple[str, dict[str, str]]:
    """A project key and real ids for each path parameter name."""

    async def run() -> tuple[str, dict[str, str]]:
        engine = build_process(url, settings=Settings(), pool_size=2)
        try:
            return await _seed_engine(engine)
        finally:
            await engine.close()

    return asyncio.run(run())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {START_SECONDS} s")


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], ready_url: str) -> Iterator[None]:
    process = subprocess.Popen(
        [sys.executable, "-m", "convoflow", *args], env=env, stdout=subprocess.DEVNULL
    )
    try:
        _wait(ready_url, process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def live_server(url: str) -> Iterator[str]:
    """`convoflow serve` on `url`'s database (no worker: the fuzzer only needs the API);
    yields its base URL."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    graph_port, api_port = _free_port(), _free_port()
    graph = f"http://127.0.0.1:{graph_port}"
    with _process(["fake-meta", "--port", str(graph_port)], env, f"{graph}/_fake/health"):
        env.update(
            CONVOFLOW_DATABASE_URL=url,
            CONVOFLOW_GRAPH_BASE_URL=f"{graph}/v23.0",
            CONVOFLOW_RATE_LIMIT_PER_MINUTE=str(10**9),
            CONVOFLOW_START_BURST_PER_SECOND=str(10**9),
        )
        base = f"http://127.0.0.1:{api_port}"
        args = ["serve", "--port", str(api_port), "--no-worker", "--log-level", "warning"]
        with _process(args, env, f"{base}/healthz"):
            yield base
