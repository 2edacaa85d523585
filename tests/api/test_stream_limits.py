"""The caps on live streams per API key (`CONVOFLOW_MAX_STREAMS_PER_KEY`) and per project
(`CONVOFLOW_MAX_STREAMS_PER_PROJECT`, docs/api.md "Live streams") over real HTTP under
uvicorn, on SQLite and PostgreSQL: one stream past a cap is a 429 with a JSON error and
Retry-After before anything streams; another key (of the same project, below the project's
cap, or another) is not affected; minted keys do not get a project past its cap; and a
slot comes back when its client closes the stream, when the connection is dropped (a
reset, no goodbye), when the stream ends (its key revoked) and when the server stops with
streams open."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from convoflow.api.app import create_app
from convoflow.config import Settings
from convoflow.process import Process
from tests.api.conftest import new_project, serve
from tests.api.helpers import P
from tests.api.test_streams import PATIENCE, open_stream

CAP = 3
PROJECT_CAP = 5
INBOX = f"{P}/inbox/events/stream"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The API tests' settings (generous rate limits), with small caps."""
    return settings.model_copy(
        update={"max_streams_per_key": CAP, "max_streams_per_project": PROJECT_CAP}
    )


@contextlib.asynccontextmanager
async def client(base: str, key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": key}, timeout=PATIENCE
    ) as http:
        yield http


async def key_id(http: httpx.AsyncClient) -> str:
    """The id of the key `http` sends (its project has only that one)."""
    [listed] = (await http.get(f"{P}/api_keys")).json()["data"]
    return str(listed["id"])


async def assert_refused(http: httpx.AsyncClient, why: str = f"at most {CAP} at once") -> None:
    # Streamed: a stream wrongly accepted fails here instead of being read forever.
    async with http.stream("GET", INBOX) as refused:
        assert refused.status_code == 429, refused.headers
        assert refused.headers["content-type"] == "application/json"
        assert refused.headers["retry-after"] == "5"
        body = orjson.loads(await refused.aread())
    assert why in body["error"], body


@contextlib.asynccontextmanager
async def reopened(http: httpx.AsyncClient) -> AsyncIterator[None]:
    """A stream of the key, open as soon as the server has seen another of its streams
    go: at once on the server's side, but a client's close reaches it a moment later."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while True:
        async with http.stream("GET", INBOX) as answer:
            if answer.status_code == 200:
                yield
                return
            assert answer.status_code == 429, (await answer.aread()).decode()
        assert loop.time() < deadline, "the closed stream's slot never came back"
        await asyncio.sleep(0.02)


async def test_a_key_holds_at_most_the_cap_and_others_are_not_affected(
    live_server: str, engine: Process
) -> None:
    _, key = await new_project(engine, "capped")
    _, other_project_key = await new_project(engine, "neighbour")
    async with client(live_server, key) as http, contextlib.AsyncExitStack() as held:
        created = await http.post(f"{P}/api_keys", json={"name": "second"})
        second_key = created.json()["data"]["key"]
        streams: list[contextlib.AsyncExitStack] = []
        for _ in range(CAP):
            one = contextlib.AsyncExitStack()
            await one.enter_async_context(open_stream(http, INBOX))
            streams.append(await held.enter_async_context(one))
        await assert_refused(http)

        # Another key of the same project, and another project's key, open theirs.
        async with (
            client(live_server, second_key) as second,
            client(live_server, other_project_key) as neighbour,
            open_stream(second, INBOX),
            open_stream(neighbour, INBOX),
        ):
            await assert_refused(http)

        # Closing one gives its slot back; the cap holds again once it is taken.
        await streams[0].aclose()
        async with reopened(http):
            await assert_refused(http)


async def test_minted_keys_do_not_get_a_project_past_its_cap(
    live_server: str, engine: Process
) -> None:
    """Each new key has its own key cap, but the project's keys together stop at the
    project's: minting keys (POST /api_keys) does not buy more streams."""
    project_id, key = await new_project(engine, "minting")
    _, other_project_key = await new_project(engine, "bystander")
    project_refusal = f"at most {PROJECT_CAP} at once across its API keys"
    async with client(live_server, key) as http, contextlib.AsyncExitStack() as held:
        minted = []
        for name in ("second", "third"):
            created = await http.post(f"{P}/api_keys", json={"name": name})
            minted.append(created.json()["data"]["key"])
        second = await held.enter_async_context(client(live_server, minted[0]))
        third = await held.enter_async_context(client(live_server, minted[1]))
        first_streams = contextlib.AsyncExitStack()
        await held.enter_async_context(first_streams)
        for _ in range(CAP):
            await first_streams.enter_async_context(open_stream(http, INBOX))
        for _ in range(PROJECT_CAP - CAP):
            await held.enter_async_context(open_stream(second, INBOX))
        assert engine.streams.held_by_project(project_id) == PROJECT_CAP
        # Both keys are below their own cap; the project is at its own.
        await assert_refused(second, project_refusal)
        await assert_refused(third, project_refusal)

        # Another project is not affected.
        async with (
            client(live_server, other_project_key) as neighbour,
            open_stream(neighbour, INBOX),
        ):
            await assert_refused(third, project_refusal)

        # A stream of any of the project's keys closing lets another key open one.
        await first_streams.aclose()
        async with reopened(third):
            pass


async def test_a_dropped_connection_gives_its_slot_back(live_server: str, engine: Process) -> None:
    """The client vanishes without closing the stream (a TCP reset): the server sees the
    disconnect and frees the slot."""
    _, key = await new_project(engine, "dropped")
    address = urlsplit(live_server)
    async with client(live_server, key) as http, contextlib.AsyncExitStack() as held:
        for _ in range(CAP - 1):
            await held.enter_async_context(open_stream(http, INBOX))
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        request = f"GET {INBOX} HTTP/1.1\r\nHost: {address.netloc}\r\nX-API-Key: {key}\r\n\r\n"
        writer.write(request.encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
        assert head.startswith(b"HTTP/1.1 200"), head
        await assert_refused(http)
        # Linger 0: close() sends a reset instead of a goodbye.
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        async with reopened(http):
            await assert_refused(http)


async def test_a_stream_that_ends_gives_its_slot_back(live_server: str, engine: Process) -> None:
    _, key = await new_project(engine, "ending")
    async with client(live_server, key) as http:
        key_of_stream = await key_id(http)
        async with open_stream(http, INBOX) as stream:
            assert engine.streams.held(key_of_stream) == 1
            assert (await http.delete(f"{P}/api_keys/{key_of_stream}")).status_code == 204
            with pytest.raises(AssertionError, match="the stream ended"):
                await stream.next()
            # The client still holds its end open: the server let go on its own.
            await until_held(engine, key_of_stream, 0)


async def test_stopping_the_server_gives_its_slots_back(engine: Process) -> None:
    """A server stopped while a key's streams are open ends them and frees their slots:
    the next server of the same process accepts as many again."""
    _, key = await new_project(engine, "restarted")
    first = serve(create_app(engine, run_worker=False))
    base = await first.__aenter__()
    stopped = False
    try:
        async with client(base, key) as http, contextlib.AsyncExitStack() as held:
            key_of_streams = await key_id(http)
            for _ in range(CAP):
                await held.enter_async_context(open_stream(http, INBOX))
            assert engine.streams.held(key_of_streams) == CAP
            # uvicorn waits for open connections: this returns once every stream ended.
            await asyncio.wait_for(first.__aexit__(None, None, None), PATIENCE)
            stopped = True
            assert engine.streams.held(key_of_streams) == 0
    finally:
        if not stopped:
            await first.__aexit__(None, None, None)
    async with (
        serve(create_app(engine, run_worker=False)) as base,
        client(base, key) as http,
        contextlib.AsyncExitStack() as held,
    ):
        for _ in range(CAP):
            await held.enter_async_context(open_stream(http, INBOX))
        await assert_refused(http)


async def until_held(engine: Process, key: str, count: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while engine.streams.held(key) != count:
        assert loop.time() < deadline, f"{engine.streams.held(key)} streams held, not {count}"
        await asyncio.sleep(0.02)
