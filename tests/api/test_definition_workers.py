"""Large definitions are checked and compiled in worker processes (engine/cpu.py), and
every write of a definition leaves its compiled graph in the graph cache (issue 8,
item 5: validation never blocks the event loop). SQLite and PostgreSQL.

The 50 ms p99 goal for `/healthz` is a figure of `bench/limits.py` (BENCHMARKS.md), not
an assertion here: this checks what must hold however loaded the machine is."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest

from convoflow.api import models
from convoflow.api.app import create_app
from convoflow.engine import graphs
from convoflow.engine.graphs import Checked, GraphCache
from convoflow.graph.compiled import CompiledGraph
from convoflow.process import Process
from convoflow.store import workflows as workflow_store
from convoflow.store.db import JsonText
from tests.api.conftest import serve
from tests.api.helpers import P, create_workflow, start, start_body

NODES = 2000  # the node cap: about 2 MB with these messages


def big_definition(message: str = "y" * 850) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "start", "data": {"node_type": "start", "config": {}}}]
    nodes += [
        {"id": f"say_{i}", "data": {"node_type": "send_text", "config": {"message": message}}}
        for i in range(NODES - 1)
    ]
    edges = [
        {"source": a["id"], "target": b["id"], "label": "next"}
        for a, b in itertools.pairwise(nodes)
    ]
    return {"nodes": nodes, "edges": edges}


async def poll_health(base: str, stop: asyncio.Event) -> list[int]:
    statuses = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        while not stop.is_set():
            statuses.append((await http.get("/healthz")).status_code)
            await asyncio.sleep(0.02)
    return statuses


async def test_healthz_answers_while_2_mb_definitions_are_posted(
    engine: Process, project: tuple[str, str]
) -> None:
    headers = {"X-API-Key": project[1]}
    async with serve(create_app(engine, run_worker=False)) as base:
        stop = asyncio.Event()
        health = asyncio.create_task(poll_health(base, stop))
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as http:
            created = []
            for n in range(2):
                body = {"workflow": {"name": f"big {n}", "definition": big_definition()}}
                response = await http.post(f"{P}/workflows", json=body)
                assert response.status_code == 201, response.text[:300]
                created.append(response.json()["data"])
            patch = {"workflow": {"definition": big_definition("z" * 850)}}
            patched = await http.patch(f"{P}/workflows/{created[0]['id']}", json=patch)
            assert patched.status_code == 200, patched.text[:300]
            shown = await http.get(f"{P}/workflows/{created[0]['id']}/definition")
        stop.set()
        statuses = await health
        # The three bodies were decoded, and their definitions prepared and compiled, in
        # a worker process.
        assert engine.cpu.process_calls == 6
        await graph_is_built_on_first_use(engine, created[0]["id"])  # the pool still runs
    assert statuses and set(statuses) == {200}, statuses
    assert all(w["validation"]["valid"] for w in [*created, patched.json()["data"]])
    definition = shown.json()["data"]["definition"]
    assert len(definition["nodes"]) == NODES
    assert definition["nodes"][1]["data"]["config"]["message"] == "z" * 850


async def graph_is_built_on_first_use(engine: Process, workflow_id: str) -> None:
    """What came back from the worker process is that the graph compiles, not the graph
    (tens of thousands of objects to unpickle in this process, holding the GIL); a run
    that needs it has it built once, in the worker process, then kept."""
    calls = engine.cpu.process_calls
    async with engine.db.read() as conn:
        row = await workflow_store.get_workflow(conn, workflow_id)
        assert row is not None
        version_id = str(row["current_version_id"])
        assert isinstance(await engine.runtime.graphs.entry(conn, version_id), Checked)
        graph = await engine.runtime.graphs.get(conn, version_id)
        assert isinstance(graph, CompiledGraph) and len(graph.nodes) == NODES
        assert await engine.runtime.graphs.get(conn, version_id) is graph
    assert engine.cpu.process_calls == calls + 1


async def test_a_malformed_large_definition_is_refused_from_the_worker(
    client: httpx.AsyncClient, engine: Process
) -> None:
    definition = {**big_definition(), "edges": "not a list"}
    response = await client.post(
        f"{P}/workflows", json={"workflow": {"name": "a", "definition": definition}}
    )
    assert response.status_code == 422, response.text[:300]
    assert "definition is malformed" in response.json()["error"]
    assert response.json()["details"][0]["message"] == "edges is a string; expected a list of edges"
    assert engine.cpu.process_calls == 2  # the body's decoding, then the definition's check


class CountedCompiles:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = graphs.compile_definition

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(graphs, "compile_definition", counted)


def small_definition(text: str) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "data": {"node_type": "start", "config": {}}},
            {"id": "say", "data": {"node_type": "send_text", "config": {"message": text}}},
        ],
        "edges": [{"source": "start", "target": "say", "label": "next"}],
    }


async def add_api_trigger(client: httpx.AsyncClient, workflow_id: str) -> None:
    trigger = {"trigger": {"trigger_type": "api_call"}}
    response = await client.post(f"{P}/workflows/{workflow_id}/triggers", json=trigger)
    assert response.status_code == 201, response.text


async def test_a_patched_definition_is_compiled_once(
    client: httpx.AsyncClient, engine: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiles = CountedCompiles(monkeypatch)
    workflow = await create_workflow(client, definition=small_definition("one"))
    await add_api_trigger(client, workflow["id"])
    assert compiles.count == 1
    patch = {"workflow": {"definition": small_definition("two"), "status": "active"}}
    patched = await client.patch(f"{P}/workflows/{workflow['id']}", json=patch)
    assert patched.status_code == 200, patched.text
    # Prepared and compiled once before the transaction; the activation check, the
    # response, a read and the first run all use that.
    assert compiles.count == 2
    assert (await client.get(f"{P}/workflows/{workflow['id']}")).status_code == 200
    await start(client, workflow["id"])
    await engine.worker.drain()
    assert compiles.count == 2


async def test_activation_keeps_the_compiled_graph(
    client: httpx.AsyncClient, engine: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow = await create_workflow(client, definition=small_definition("one"))
    await add_api_trigger(client, workflow["id"])
    engine.runtime.graphs = GraphCache(engine.cpu)  # as after a restart: nothing cached
    compiles = CountedCompiles(monkeypatch)
    activated = await client.patch(
        f"{P}/workflows/{workflow['id']}", json={"workflow": {"status": "active"}}
    )
    assert activated.status_code == 200, activated.text
    assert compiles.count == 1  # the activation check compiled it, and kept it
    response = await client.post(f"{P}/workflows/{workflow['id']}/executions", json=start_body())
    assert response.status_code == 202, response.text
    await engine.worker.drain()
    assert compiles.count == 1


async def test_a_large_body_is_decoded_in_the_worker_with_the_same_answers(
    client: httpx.AsyncClient, engine: Process
) -> None:
    """Bodies over 256 KB are decoded in a worker process: not JSON and too deep are the
    same 400s as when decoded on the event loop."""
    padding = "x" * 300_000
    not_json = b'{"workflow": {"name": "' + padding.encode() + b'"'
    deep = '{"workflow": {"name": "a", "description": "' + padding + '", "x": ' + "[" * 70
    deep += "]" * 70 + "}}"
    headers = {"Content-Type": "application/json"}
    broken = await client.post(f"{P}/workflows", content=not_json, headers=headers)
    assert broken.status_code == 400 and "Invalid JSON in request body" in broken.text
    too_deep = await client.post(f"{P}/workflows", content=deep, headers=headers)
    assert too_deep.status_code == 400 and "nested more than 64 levels" in too_deep.text
    assert engine.cpu.process_calls == 2


async def test_a_large_body_is_checked_for_storability_in_the_worker(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body models skip their storable walk of a large body that the worker process
    found storable as a whole, and still name what is not storable when it is not."""
    walks = 0
    real = models.check_json

    def counted(value: Any) -> None:
        nonlocal walks
        walks += 1
        real(value)

    monkeypatch.setattr(models, "check_json", counted)  # this process only, not the worker
    body = {"workflow": {"name": "clean", "definition": big_definition()}}
    created = await client.post(f"{P}/workflows", json=body)
    assert created.status_code == 201, created.text[:300]
    assert walks == 0
    body = {"workflow": {"name": "nul\x00", "definition": big_definition()}}
    refused = await client.post(f"{P}/workflows", json=body)
    assert refused.status_code == 422, refused.text[:300]
    assert "NUL" in refused.text and walks > 0
    # Unknown keys are dropped, not checked: a NUL there is no reason to refuse.
    body = {"workflow": {"name": "extra", "definition": big_definition(), "x": "\x00"}}
    assert (await client.post(f"{P}/workflows", json=body)).status_code == 201


async def test_a_large_new_definition_comes_back_as_the_json_to_store(
    client: httpx.AsyncClient, engine: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the worker process, a create's definition comes back serialised, as the
    column stores it: no 2 MB dict to unpickle, nothing to serialise on the event loop."""
    results: list[Any] = []
    real = engine.cpu.run

    async def recording(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        results.append(result)
        return result

    monkeypatch.setattr(engine.cpu, "run", recording)
    body = {"workflow": {"name": "big", "definition": big_definition()}}
    created = await client.post(f"{P}/workflows", json=body)
    assert created.status_code == 201, created.text[:300]
    assert [type(result[0]) for result in results] == [JsonText]
    shown = await client.get(f"{P}/workflows/{created.json()['data']['id']}/definition")
    nodes = shown.json()["data"]["definition"]["nodes"]
    assert len(nodes) == NODES and nodes[1]["type"] == "flow-node"
    assert nodes[1]["data"] == {
        "node_type": "send_text",
        "config": {"message": "y" * 850},
        "display_name": nodes[1]["data"]["display_name"],
    }
