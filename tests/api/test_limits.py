"""Request limits (docs/api.md, Limits), on SQLite and PostgreSQL: body sizes checked
while the body streams in (413 with a JSON error, a 50 MB body never read), which routes
take which limit, and JSON nesting deeper than 64 levels as a 400 on every route that
parses JSON (10,000 nested arrays used to be a 500 on functions invoke)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from convoflow.api.app import create_app
from convoflow.config import Settings
from convoflow.engine import graphs
from convoflow.process import Process
from convoflow.services.workflows import definitions
from convoflow.store import workflows as workflow_store
from tests.api.conftest import serve
from tests.api.helpers import P, create_workflow, start_body, startable_workflow
from tests.support import chain, node

V1 = "/api/v1"
MB = 1_000_000
API_BODY_BYTES = MB  # the limits of docs/api.md, spelled out so the test states them
WEBHOOK_BODY_BYTES = 3 * MB
MAX_DEPTH = 64
CHUNK = 64 * 1024
TOO_DEEP = f"JSON nested more than {MAX_DEPTH} levels deep is not accepted"


def padded_definition(size: int) -> dict[str, Any]:
    """A valid definition of about `size` bytes: 1,000 nodes with long messages."""
    count = 1000
    text = "x" * (size // count)
    nodes = [node("start", "start")]
    nodes += [node(f"say_{i}", "send_text", message=text) for i in range(count)]
    return chain(*nodes)


class Counted:
    """A chunked request body that counts how much of it the server pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += CHUNK
            yield b" " * CHUNK


def assert_too_large(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert "Request body is too large" in error and f"at most {limit} bytes" in error, error


async def test_a_declared_content_length_over_the_limit_is_refused_unread(
    engine: Process, project: tuple[str, str]
) -> None:
    """Over loopback HTTP: the 413 arrives although not one byte of the body was sent."""
    async with serve(create_app(engine, run_worker=False)) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"POST {P}/workflows/w/executions HTTP/1.1\r\nHost: x\r\nX-API-Key: {project[1]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {50 * MB}\r\n\r\n".encode()
        )
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        length = int(head.lower().split("content-length: ")[1].split("\r\n")[0])
        body = json.loads(await reader.readexactly(length))
        writer.close()
    assert head.startswith("HTTP/1.1 413"), head
    assert f"accepts at most {API_BODY_BYTES} bytes" in body["error"]


@pytest.mark.parametrize(
    ("method", "path", "limit"),
    [
        ("POST", f"{P}/workflows/w/executions", API_BODY_BYTES),
        ("PATCH", f"{P}/workflows/w", 2 * MB),
        ("POST", "/webhooks/whatsapp", WEBHOOK_BODY_BYTES),
    ],
)
async def test_a_streamed_body_is_refused_once_it_passes_the_limit(
    client: httpx.AsyncClient, method: str, path: str, limit: int
) -> None:
    """Without Content-Length (chunked), the server stops reading just past the limit:
    of a 50 MB body it pulls at most one chunk more than the limit."""
    body = Counted(50 * MB)
    response = await client.request(method, path, content=body)
    assert_too_large(response, limit)
    assert body.sent <= limit + CHUNK


async def test_definition_routes_take_the_definition_limit(client: httpx.AsyncClient) -> None:
    """1.5 MB: a definition is accepted on the five routes that carry one, any other
    request is refused; past 2 MB the definition routes refuse too."""
    big = padded_definition(int(1.5 * MB))
    created = await client.post(
        f"{P}/workflows", json={"workflow": {"name": "a", "definition": big}}
    )
    assert created.status_code == 201, created.text[:300]
    workflow_id = created.json()["data"]["id"]
    patched = await client.patch(
        f"{P}/workflows/{workflow_id}", json={"workflow": {"definition": big}}
    )
    assert patched.status_code == 200, patched.text[:300]
    flow = await client.post(f"{V1}/flows", json={"flow": {"name": "b", "definition": big}})
    assert flow.status_code == 201, flow.text[:300]
    flow_id = flow.json()["data"]["id"]
    patched = await client.patch(f"{V1}/flows/{flow_id}", json={"flow": {"definition": big}})
    assert patched.status_code == 200, patched.text[:300]
    # The editor checks what it can save (it was refused past 1 MB).
    checked = await client.post(f"{P}/definitions/validate", json={"definition": big})
    assert checked.status_code == 200, checked.text[:300]

    context = {"vars": {"blob": "x" * int(1.5 * MB)}}
    started = await client.post(
        f"{P}/workflows/{workflow_id}/executions", json=start_body(context=context)
    )
    assert_too_large(started, API_BODY_BYTES)
    huge = padded_definition(int(2.1 * MB))
    refused = await client.post(
        f"{P}/workflows", json={"workflow": {"name": "c", "definition": huge}}
    )
    assert_too_large(refused, 2 * MB)
    refused = await client.patch(f"{V1}/flows/{flow_id}", json={"flow": {"definition": huge}})
    assert_too_large(refused, 2 * MB)
    refused = await client.post(f"{P}/definitions/validate", json={"definition": huge})
    assert_too_large(refused, 2 * MB)


class TestSmallDefinitionLimit:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(
            rate_limit_per_minute=1_000_000,
            start_burst_per_second=1_000_000,
            max_definition_bytes=10_000,
        )

    async def test_the_definition_limit_is_a_setting(self, client: httpx.AsyncClient) -> None:
        body = {"workflow": {"name": "a", "definition": padded_definition(20_000)}}
        assert_too_large(await client.post(f"{P}/workflows", json=body), 10_000)


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


async def test_ten_thousand_nested_arrays_are_a_400_on_every_json_route(
    client: httpx.AsyncClient,
) -> None:
    workflow = await startable_workflow(client)
    routes = [
        ("POST", f"{P}/functions/f/invoke"),
        ("POST", f"{P}/functions"),
        ("POST", f"{P}/workflows"),
        ("PATCH", f"{P}/workflows/{workflow['id']}"),
        ("POST", f"{P}/workflows/{workflow['id']}/executions"),
        ("POST", f"{P}/workflows/{workflow['id']}/triggers"),
        ("POST", f"{P}/whatsapp/messages"),
        ("POST", f"{V1}/flows"),
    ]
    for method, path in routes:
        for levels in (10_000, MAX_DEPTH + 1):
            response = await client.request(
                method,
                path,
                content=nested(levels),
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code == 400, (method, path, levels, response.text)
            assert response.json()["error"].startswith(TOO_DEEP), response.text


async def test_every_route_that_takes_a_json_body_refuses_65_levels(
    client: httpx.AsyncClient,
) -> None:
    """Every operation of /openapi.json with a JSON request body, so a route added later
    is covered too: the one decoder answers 400 before any id, model or key is looked at
    (`POST /api_keys` was decoded by FastAPI's own JSON reader: 65 levels were a 422 from
    the body model, 10,000 a 400 with FastAPI's message)."""
    spec = (await client.get("/openapi.json")).json()
    checked = []
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "application/json" not in operation.get("requestBody", {}).get("content", {}):
                continue
            path = re.sub(r"\{[^}]+\}", "x1", template)
            for levels in (MAX_DEPTH + 1, 10_000):
                response = await client.request(
                    method.upper(),
                    path,
                    content=nested(levels),
                    headers={"Content-Type": "application/json"},
                )
                assert response.status_code == 400, (method, path, levels, response.text)
                assert response.json()["error"].startswith(TOO_DEEP), (method, path)
            checked.append(f"{method.upper()} {template}")
    assert f"POST {P}/api_keys" in checked and f"POST {V1}/flows" in checked
    assert len(checked) >= 30, checked


async def test_depth_counts_every_level_of_the_body(client: httpx.AsyncClient) -> None:
    """64 levels in all (the envelope's included) pass the decoder; 65 do not."""
    workflow = await create_workflow(client)
    inner = 64 - 4  # {"workflow_execution": {"context": {"vars": {"deep": [...]}}}}

    def body(levels: int) -> bytes:
        return (
            '{"workflow_execution": {"phone_number": "+15550001111", "context": '
            '{"channel": "sandbox", "vars": {"deep": ' + nested(levels) + "}}}}"
        ).encode()

    path = f"{P}/workflows/{workflow['id']}/executions"
    headers = {"Content-Type": "application/json"}
    ok = await client.post(path, content=body(inner), headers=headers)
    assert ok.status_code != 400 and TOO_DEEP not in ok.text, ok.text
    deep = await client.post(path, content=body(inner + 1), headers=headers)
    assert deep.status_code == 400 and deep.json()["error"].startswith(TOO_DEEP), deep.text


async def test_a_deep_webhook_body_is_not_a_server_error(client: httpx.AsyncClient) -> None:
    """Meta's webhook answers by its signature (docs/whatsapp.md): unsigned, 401; with a
    signature that cannot match, 403; never a 500."""
    raw = nested(10_000).encode()
    unsigned = await client.post("/webhooks/whatsapp", content=raw)
    assert unsigned.status_code == 401, unsigned.text
    signed = await client.post(
        "/webhooks/whatsapp", content=raw, headers={"X-Hub-Signature-256": "sha256=00"}
    )
    assert signed.status_code == 403, signed.text


def many_nodes(count: int, *, valid: bool = True) -> dict[str, Any]:
    nodes = [node("start", "start")] if valid else []
    nodes += [node(f"say_{i}", "send_text", message="hi") for i in range(count - len(nodes))]
    definition = chain(*nodes)
    if not valid:
        definition["edges"].append({"source": "say_0", "target": "nowhere", "label": "next"})
    return definition


def assert_too_many_nodes(response: httpx.Response, limit: int, count: int) -> None:
    assert response.status_code == 422, response.text[:300]
    (detail,) = response.json()["details"]
    assert (detail["code"], detail["field"]) == ("too_many_nodes", "definition.nodes"), detail
    assert f"at most {limit} nodes" in detail["message"] and f"has {count}" in detail["message"]


async def test_a_definition_holds_at_most_2000_nodes(client: httpx.AsyncClient) -> None:
    """On every route that stores a definition, drafts included; 2,000 are accepted."""
    at_limit = await client.post(
        f"{P}/workflows", json={"workflow": {"name": "a", "definition": many_nodes(2000)}}
    )
    assert at_limit.status_code == 201, at_limit.text[:300]
    workflow_id = at_limit.json()["data"]["id"]
    over = many_nodes(2001)
    for method, path, body in (
        ("POST", f"{P}/workflows", {"workflow": {"name": "b", "definition": over}}),
        ("PATCH", f"{P}/workflows/{workflow_id}", {"workflow": {"definition": over}}),
        (
            "PATCH",
            f"{P}/workflows/{workflow_id}",
            {"workflow": {"definition": {"nodes": over["nodes"]}}},
        ),
        ("POST", f"{V1}/flows", {"flow": {"name": "c", "definition": over}}),
        ("PATCH", f"{V1}/flows/{workflow_id}", {"flow": {"definition": over}}),
        # The editor's check of an unsaved definition: what could not be saved.
        ("POST", f"{P}/definitions/validate", {"definition": over}),
    ):
        assert_too_many_nodes(await client.request(method, path, json=body), 2000, 2001)
    # A graph with problems too: the count is a size limit, reported before them.
    broken = {"workflow": {"name": "d", "definition": many_nodes(2001, valid=False)}}
    assert_too_many_nodes(await client.post(f"{P}/workflows", json=broken), 2000, 2001)


class TestNodeLimitSetting:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(
            rate_limit_per_minute=1_000_000, start_burst_per_second=1_000_000, max_nodes=5
        )

    async def test_the_node_limit_is_a_setting(self, client: httpx.AsyncClient) -> None:
        body = {"workflow": {"name": "a", "definition": many_nodes(6)}}
        assert_too_many_nodes(await client.post(f"{P}/workflows", json=body), 5, 6)


class Held:
    """Wraps a pure function: records the thread each call runs on, and holds the calls
    until released, so a test can act while one is provably in progress."""

    def __init__(self, function: Any) -> None:
        self.function = function
        self.threads: list[threading.Thread] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.threads.append(threading.current_thread())
        if threading.current_thread() is threading.main_thread():
            # On the event loop: holding would block the test itself; fail instead.
            raise AssertionError("ran on the event loop thread")
        self.entered.set()
        self.release.wait(30)
        return self.function(*args, **kwargs)


async def test_healthz_answers_while_a_definition_is_being_validated(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held(definitions.validate_definition)
    monkeypatch.setattr(definitions, "validate_definition", held)
    for method, path, body in (
        ("POST", f"{P}/workflows", {"workflow": {"name": "a", "definition": many_nodes(50)}}),
        ("POST", f"{V1}/flows", {"flow": {"name": "b", "definition": many_nodes(50)}}),
    ):
        held.entered.clear()
        held.release.clear()
        saving = asyncio.create_task(client.request(method, path, json=body))
        assert await asyncio.to_thread(held.entered.wait, 30)
        health = await client.get("/healthz")  # the validation is still held
        assert health.status_code == 200 and not saving.done()
        held.release.set()
        saved = await saving
        assert saved.status_code == 201, saved.text[:300]
    workflow_id = saved.json()["data"]["id"]
    patched = await client.patch(
        f"{V1}/flows/{workflow_id}", json={"flow": {"definition": many_nodes(60)}}
    )
    assert patched.status_code == 200, patched.text[:300]
    assert held.threads and all(t is not threading.main_thread() for t in held.threads)


async def test_definitions_compile_off_the_event_loop(
    client: httpx.AsyncClient, engine: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held(graphs.compile_definition)
    held.release.set()
    monkeypatch.setattr(graphs, "compile_definition", held)
    workflow = await startable_workflow(client)
    response = await client.post(f"{P}/workflows/{workflow['id']}/executions", json=start_body())
    assert response.status_code == 202, response.text
    await engine.worker.drain()
    assert held.threads and all(t is not threading.main_thread() for t in held.threads)


async def test_a_created_definition_is_compiled_once_and_not_read_back(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The create prepares and compiles in one worker thread and seeds the graph cache:
    # reading 2 MB back (decoded on the event loop) and compiling it again for the
    # response's validation used to hold the loop and take the GIL from it.
    compiled = Held(graphs.compile_definition)
    compiled.release.set()
    monkeypatch.setattr(graphs, "compile_definition", compiled)
    read_back: list[str] = []
    real_read = workflow_store.get_version_definitions

    async def recording_read(conn: Any, version_ids: Any) -> Any:
        read_back.extend(version_ids)
        return await real_read(conn, version_ids)

    monkeypatch.setattr(workflow_store, "get_version_definitions", recording_read)
    body = {"workflow": {"name": "a", "definition": many_nodes(30, valid=False)}}
    created = await client.post(f"{P}/workflows", json=body)
    assert created.status_code == 201, created.text[:300]
    assert len(compiled.threads) == 1 and read_back == []
    shown = (await client.get(f"{P}/workflows/{created.json()['data']['id']}")).json()["data"]
    assert shown == created.json()["data"] and created.json()["data"]["validation"]["errors"]
    assert len(compiled.threads) == 1 and read_back == []
