"""Helpers for engine-level tests: projects, workflows and a scripted sandbox chat."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from convoflow.engine.advance import Advance
from convoflow.process import Process
from convoflow.services.conversations import sandbox
from convoflow.services.projects.accounts import create_project, set_secret
from convoflow.services.workflows.versions import add_version, create_workflow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return document.get("definition", document)


def node(node_id: str, node_type: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "data": {"node_type": node_type, "config": config}}


def edge(source: str, target: str, label: str = "next") -> dict[str, Any]:
    return {"source": source, "target": target, "label": label}


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A linear definition: each node's `next` goes to the following node."""
    edges = [edge(a["id"], b["id"]) for a, b in itertools.pairwise(nodes)]
    return {"nodes": list(nodes), "edges": edges}


async def make_project(engine: Process, name: str = "test", **settings: Any) -> str:
    async def create(adv: Advance) -> str:
        return await create_project(adv.conn, engine.clock, name, settings)

    return await engine.runtime.op(create)


async def put_secret(engine: Process, project_id: str, name: str, value: str) -> None:
    """The project secret `name` (read by templates as `${ENV:name}`)."""

    async def put(adv: Advance) -> None:
        await set_secret(adv.conn, engine.clock, project_id, name, value)

    await engine.runtime.op(put)


async def make_workflow(
    engine: Process, project_id: str, definition: Any, *, name: str = "flow", status: str = "active"
) -> str:
    async def create(adv: Advance) -> str:
        return await create_workflow(
            adv.conn,
            engine.clock,
            project_id=project_id,
            name=name,
            definition=definition,
            status=status,
        )

    return await engine.runtime.op(create)


async def new_version(engine: Process, workflow_id: str, definition: Any) -> str:
    async def add(adv: Advance) -> str:
        return await add_version(adv.conn, engine.clock, workflow_id, definition)

    return await engine.runtime.op(add)


class Chat:
    """A sandbox conversation driven step by step with the worker drained in between."""

    def __init__(self, engine: Process, conversation_id: str) -> None:
        self.engine = engine
        self.conversation_id = conversation_id
        self.seen = 0

    @classmethod
    async def open(
        cls,
        engine: Process,
        definition: Any,
        *,
        project_id: str | None = None,
        variables: dict[str, Any] | None = None,
        start: bool = True,
    ) -> Chat:
        project_id = project_id or await make_project(engine)
        workflow_id = await make_workflow(engine, project_id, definition)
        conversation_id = await sandbox.open_conversation(
            engine, project_id=project_id, workflow_id=workflow_id
        )
        chat = cls(engine, conversation_id)
        chat.project_id = project_id
        chat.workflow_id = workflow_id
        if start:
            await sandbox.start(engine, conversation_id, variables)
            await engine.worker.drain()
        return chat

    project_id: str
    workflow_id: str

    async def say(self, text: str) -> list[dict[str, Any]]:
        await sandbox.say(self.engine, self.conversation_id, text)
        await self.engine.worker.drain()
        return await self.bot()

    async def bot(self) -> list[dict[str, Any]]:
        """Bot messages since the last call."""
        new = await sandbox.outbound_since(self.engine, self.conversation_id, self.seen)
        self.seen += len(new)
        return new

    async def texts(self) -> list[str]:
        return [m.get("text", "") for m in await self.bot()]

    async def execution(self) -> dict[str, Any]:
        latest = await sandbox.latest_execution(self.engine, self.conversation_id)
        assert latest is not None
        return latest["current"]

    async def root(self) -> dict[str, Any]:
        latest = await sandbox.latest_execution(self.engine, self.conversation_id)
        assert latest is not None
        return latest["root"]


# --- reading and writing rows directly (engine tests) ----------------------------------


async def table_rows(engine: Process, table: Any, **where: Any) -> list[dict[str, Any]]:
    """All rows of a `convoflow.store.schema` table matching `column=value` filters."""
    import sqlalchemy as sa

    query = sa.select(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    async with engine.db.read() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


async def insert_row(engine: Process, table: Any, row: dict[str, Any]) -> None:
    import sqlalchemy as sa

    async def insert(adv: Advance) -> None:
        await adv.conn.execute(sa.insert(table), row)

    await engine.runtime.op(insert)


async def events(engine: Process, execution_id: str) -> list[dict[str, Any]]:
    """The execution's events, in sequence order."""
    import sqlalchemy as sa

    from convoflow.store.schema import execution_events

    async with engine.db.read() as conn:
        result = await conn.execute(
            sa.select(execution_events)
            .where(execution_events.c.execution_id == execution_id)
            .order_by(execution_events.c.seq)
        )
        return [dict(row) for row in result.mappings()]


async def chat_payloads(engine: Process, chat: Chat, event_type: str) -> list[dict[str, Any]]:
    """The payloads of the chat's current execution's events of one type, in order."""
    execution = await chat.execution()
    found = await events(engine, execution["id"])
    return [e["payload"] for e in found if e["event_type"] == event_type]


async def join_chat(
    engine: Process,
    project_id: str,
    workflow_id: str,
    *,
    variables: dict[str, Any] | None = None,
    user: str = "sandbox-user",
) -> Chat:
    """A new sandbox conversation on an existing workflow, started and drained."""
    conversation_id = await sandbox.open_conversation(
        engine, project_id=project_id, workflow_id=workflow_id, user=user
    )
    chat = Chat(engine, conversation_id)
    chat.project_id = project_id
    chat.workflow_id = workflow_id
    await sandbox.start(engine, conversation_id, variables)
    await engine.worker.drain()
    return chat


async def make_http_function(
    engine: Process, project_id: str, endpoint_url: str, *, name: str = "fn"
) -> str:
    """A project function of type `http` (inserted directly: no API needed)."""
    return await _make_function(engine, project_id, name, "http", endpoint_url=endpoint_url)


async def make_js_function(engine: Process, project_id: str, code: str, *, name: str = "js") -> str:
    """A deployed JavaScript function (inserted directly: its code is not compile-checked)."""
    return await _make_function(engine, project_id, name, "cloudflare_worker", code=code)


async def _make_function(
    engine: Process, project_id: str, name: str, function_type: str, **fields: Any
) -> str:
    from convoflow.ids import new_id
    from convoflow.store.schema import functions

    function_id = new_id()
    now = engine.clock.now()
    await insert_row(
        engine,
        functions,
        {
            "id": function_id,
            "project_id": project_id,
            "name": name,
            "slug": f"{name}-{function_id[-8:]}",
            "function_type": function_type,
            **fields,
            "status": "deployed",
            "version": 1,
            "lock_version": 0,
            "invoke_response_mode": "passthrough",
            "public_endpoint": False,
            "runtime_config": {},
            "created_at": now,
            "updated_at": now,
        },
    )
    return function_id


async def wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the `convoflow serve` subprocess at `base` answers /healthz with 200; fails
    with its output if it exits or never does."""
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(1200):
            assert proc.poll() is None, _text(log)
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"convoflow serve did not start:\n{_text(log)}")


def _text(log: Path) -> str:
    return log.read_text()
