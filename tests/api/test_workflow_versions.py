"""The version history (our extension, for the console's editor): every saved definition
is a version, listed newest first with its size; one version reads with its definition;
restoring is saving that definition again through PATCH with `lock_version`, which makes
a new version; another project's workflow or a version of another workflow is a 404."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from convoflow.engine.graphs import GraphCache
from convoflow.process import Process
from tests.api.conftest import new_project
from tests.api.contract import assert_error
from tests.api.helpers import P, canonical, create_workflow, start, startable_workflow


async def _save(client: httpx.AsyncClient, workflow_id: str, definition: Any, lock: int) -> None:
    body = {"workflow": {"definition": definition, "lock_version": lock}}
    response = await client.patch(f"{P}/workflows/{workflow_id}", json=body)
    assert response.status_code == 200, response.text


async def test_list_read_and_restore_versions(client: httpx.AsyncClient) -> None:
    first = canonical()
    workflow = await create_workflow(client, definition=first)
    wid = workflow["id"]
    # As stored (saving normalises: ids on edges, positions).
    first = (await client.get(f"{P}/workflows/{wid}/definition")).json()["data"]["definition"]
    second = copy.deepcopy(first)
    second["nodes"] = second["nodes"][:-1]
    await _save(client, wid, second, workflow["lock_version"])

    listed = (await client.get(f"{P}/workflows/{wid}/versions")).json()["data"]
    assert [v["number"] for v in listed] == [2, 1]
    assert [v["current"] for v in listed] == [True, False]
    assert listed[1]["node_count"] == len(first["nodes"])
    assert listed[0]["node_count"] == len(first["nodes"]) - 1
    assert listed[1]["edge_count"] == len(first["edges"])

    old = await client.get(f"{P}/workflows/{wid}/versions/{listed[1]['id']}")
    assert old.status_code == 200, old.text
    assert old.json()["data"]["definition"] == first

    # Restore: the old definition saved as the new current version.
    lock = (await client.get(f"{P}/workflows/{wid}")).json()["data"]["lock_version"]
    await _save(client, wid, old.json()["data"]["definition"], lock)
    listed = (await client.get(f"{P}/workflows/{wid}/versions", params={"limit": 1})).json()
    assert [(v["number"], v["current"]) for v in listed["data"]] == [(3, True)]
    current = (await client.get(f"{P}/workflows/{wid}/definition")).json()["data"]
    assert current["definition"] == first


async def test_versions_are_scoped_to_the_project_and_workflow(
    client: httpx.AsyncClient, engine: Process
) -> None:
    mine = await create_workflow(client, "Mine")
    other = await create_workflow(client, "Other")
    (version,) = (await client.get(f"{P}/workflows/{other['id']}/versions")).json()["data"]

    crossed = await client.get(f"{P}/workflows/{mine['id']}/versions/{version['id']}")
    assert crossed.status_code == 404
    assert_error(crossed.json())
    _, hostile_key = await new_project(engine, "hostile")
    headers = {"X-API-Key": hostile_key}
    for path in (f"/workflows/{other['id']}/versions", f"/workflows/{other['id']}/versions/x"):
        response = await client.get(P + path, headers=headers)
        assert response.status_code == 404, response.text
        assert_error(response.json())
    response = await client.get(f"{P}/workflows/{mine['id']}/versions?limit=0")
    assert response.status_code == 422, response.text


async def test_an_execution_names_the_version_it_runs(client: httpx.AsyncClient) -> None:
    workflow = await startable_workflow(client)
    started = await start(client, workflow["id"])
    (version,) = (await client.get(f"{P}/workflows/{workflow['id']}/versions")).json()["data"]
    detail = (await client.get(f"{P}/workflow_executions/{started['id']}")).json()["data"]
    assert detail["workflow_version_id"] == version["id"]


async def test_a_version_read_carries_its_problems(client: httpx.AsyncClient) -> None:
    """Every read of a definition carries its problems (issue 8 item 3): a version read
    too, so an editor restoring an old draft sees what is wrong with it first."""
    broken = {
        "nodes": [{"id": "start", "data": {"node_type": "start", "config": {}}}],
        "edges": [{"source": "start", "target": "nowhere"}],
    }
    workflow = await create_workflow(client, definition=broken)
    wid = workflow["id"]
    await _save(client, wid, canonical(), workflow["lock_version"])
    listed = (await client.get(f"{P}/workflows/{wid}/versions")).json()["data"]
    current, old = [
        (await client.get(f"{P}/workflows/{wid}/versions/{v['id']}")).json()["data"] for v in listed
    ]
    assert current["validation"]["valid"] is True
    assert old["validation"] == workflow["validation"]
    assert [p["code"] for p in old["validation"]["errors"]] == ["missing_edge_target"]


async def test_reading_old_versions_does_not_fill_the_graph_cache(
    client: httpx.AsyncClient, engine: Process
) -> None:
    """A version read is checked without keeping what it compiled: browsing a long
    history must not push the versions that run out of the process's graph cache."""
    workflow = await create_workflow(client, definition=canonical())
    wid = workflow["id"]
    broken = canonical()
    broken["edges"].append({"source": broken["nodes"][0]["id"], "target": "nowhere"})
    await _save(client, wid, broken, workflow["lock_version"])
    # A process that has not compiled either version yet (as after a restart).
    engine.runtime.graphs = GraphCache(engine.cpu)
    listed = (await client.get(f"{P}/workflows/{wid}/versions")).json()["data"]
    read = [
        (await client.get(f"{P}/workflows/{wid}/versions/{v['id']}")).json()["data"] for v in listed
    ]
    assert [r["validation"]["valid"] for r in read] == [False, True]
    assert not any(v["id"] in engine.runtime.graphs for v in listed)
