"""Live streams (server-sent events, our extension, docs/api.md "Live streams") over real
HTTP under uvicorn, on SQLite and PostgreSQL: a test chat's messages and execution as
they happen, an execution's events, resuming with Last-Event-ID without losing or
repeating anything, another project's ids answered 404, and a change written by another
process reaching the stream (PostgreSQL: by its NOTIFY alone; SQLite: by the poll)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest

from convoflow.api.app import create_app
from convoflow.config import Settings
from convoflow.process import build_process
from convoflow.services.conversations import sandbox
from convoflow.services.streams.follow import MAX_MICROS
from tests.api.conftest import new_project, serve
from tests.api.helpers import P, start_body
from tests.support import edge, node

# A guard against a stream that never delivers, not a timing assertion.
PATIENCE = 30.0


@pytest.fixture
def settings(backend: str) -> Settings:
    # PostgreSQL: a stream that is not woken reads again only after 10 minutes, so what a
    # test sees came by a notification. SQLite has none across processes: the poll.
    return Settings(
        worker_poll_seconds=0.05,
        rate_limit_per_minute=1_000_000,
        start_burst_per_second=1_000_000,
        stream_poll_seconds=600.0 if backend == "postgresql" else 0.2,
    )


def echo_flow() -> dict[str, Any]:
    """Asks once, then answers every message with what was said, forever."""
    nodes = [
        node("start", "start"),
        node("ask", "send_text", message="Say something"),
        node("wait", "wait_for_response", save_response_to="said"),
        node("echo", "send_text", message="you said {{vars.said}}"),
    ]
    edges = [edge("start", "ask"), edge("ask", "wait"), edge("wait", "echo"), edge("echo", "wait")]
    return {"nodes": nodes, "edges": edges}


class EventStream:
    """Server-sent events read from an open response: (event, id, data) as they come."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self._next(), PATIENCE)

    async def _next(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        async for line in self._lines:
            if not line:
                if "data" in fields:
                    fields["data"] = orjson.loads(fields["data"])
                    return fields
                fields = {}
            elif not line.startswith(":"):  # a comment is a keep-alive ping
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    async def until(self, *wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Events until each of `wanted` has accepted one (in any order)."""
        seen: list[dict[str, Any]] = []
        while not all(any(test(event) for event in seen) for test in wanted):
            seen.append(await self.next())
        return seen


@contextlib.asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient, path: str, last_event_id: str | None = None
) -> AsyncIterator[EventStream]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    async with http.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventStream(response)


def is_execution(event: dict[str, Any]) -> bool:
    return event["event"] == "execution"


def bot_says(text: str) -> Callable[[dict[str, Any]], bool]:
    def wanted(event: dict[str, Any]) -> bool:
        data = event["data"]
        return (
            event["event"] == "message"
            and data["direction"] == "outbound"
            and data["content"].get("text") == text
        )

    return wanted


async def chat(http: httpx.AsyncClient) -> tuple[str, str]:
    """(execution id, conversation id) of a new test chat with the echo flow."""
    body = {"workflow": {"name": "Echo", "definition": echo_flow()}}
    workflow_id = (await http.post(f"{P}/workflows", json=body)).json()["data"]["id"]
    trigger = {"trigger": {"trigger_type": "api_call"}}
    assert (await http.post(f"{P}/workflows/{workflow_id}/triggers", json=trigger)).is_success
    activate = {"workflow": {"status": "active"}}
    assert (await http.patch(f"{P}/workflows/{workflow_id}", json=activate)).is_success
    started = await http.post(f"{P}/workflows/{workflow_id}/executions", json=start_body())
    assert started.status_code == 202, started.text
    execution_id = started.json()["data"]["id"]
    detail = (await http.get(f"{P}/workflow_executions/{execution_id}")).json()["data"]
    return execution_id, detail["whatsapp_conversation_id"]


@contextlib.asynccontextmanager
async def project_http(engine: Any, base: str, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a new project's API key."""
    _, key = await new_project(engine, name)
    headers = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=PATIENCE) as http:
        yield http


async def say(http: httpx.AsyncClient, conversation: str, text: str) -> None:
    path = f"{P}/sandbox/conversations/{conversation}/messages"
    said = await http.post(path, json={"text": text})
    assert said.status_code == 202, said.text


async def test_a_test_chat_streams_its_messages_and_execution(live_server, engine):
    async with project_http(engine, live_server, "chat") as http:
        execution_id, conversation = await chat(http)
        path = f"{P}/sandbox/conversations/{conversation}/events/stream"
        async with open_stream(http, path) as stream:
            # The execution is waiting before the start answers; its question may still
            # be on its way (the worker sends it), so either can come first.
            opening = await stream.until(bot_says("Say something"), is_execution)
            [state] = [e["data"] for e in opening if e["event"] == "execution"]
            assert state["id"] == execution_id
            assert state["status"] == "waiting"

            await say(http, conversation, "hello")
            seen = await stream.until(
                bot_says("you said hello"),
                lambda e: is_execution(e) and "said" in e["data"]["execution_context"]["vars"],
            )
            said = [e["data"] for e in seen if e["event"] == "message"]
            assert said[0]["direction"] == "inbound"
            assert said[0]["content"]["text"] == "hello"
            states = [e["data"] for e in seen if e["event"] == "execution"]
            assert states and states[-1]["execution_context"]["vars"]["said"] == "hello"
            assert states[-1]["current_step"]["identifier"] in ("wait", "echo")
            ids = [int(e["id"]) for e in seen]
            assert ids == sorted(ids), "positions only move forward"


async def test_an_execution_stream_resumes_after_the_last_event_id(live_server, engine):
    async with project_http(engine, live_server, "resume") as http:
        execution_id, conversation = await chat(http)
        path = f"{P}/workflow_executions/{execution_id}/events/stream"
        async with open_stream(http, path) as stream:
            first = await stream.until(lambda e: e["event"] == "execution")
        events = [e for e in first if e["event"] == "event"]
        assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
        last = first[-1]["id"]
        assert last == events[-1]["id"]

        # Two turns while nobody listens, then the stream picks up where it stopped.
        await say(http, conversation, "one")
        await say(http, conversation, "two")
        async with open_stream(http, path, last_event_id=last) as stream:
            resumed = await stream.until(
                lambda e: (
                    e["event"] == "event"
                    and e["data"]["event_type"] == "user_input_received"
                    and e["data"]["payload"].get("input") == "two"
                )
            )
        seqs = [int(e["id"]) for e in resumed if e["event"] == "event"]
        assert seqs == list(range(int(last) + 1, int(last) + 1 + len(seqs)))
        received = [
            e["data"]["payload"].get("input")
            for e in resumed
            if e["event"] == "event" and e["data"]["event_type"] == "user_input_received"
        ]
        assert received == ["one", "two"]


async def test_a_client_that_read_the_execution_streams_only_what_follows(live_server, engine):
    """Every event carries `sequence`, the `id` its stream gives it: the newest one a
    client read (GET the execution) as Last-Event-ID streams only what came after it,
    without the timeline again (the console's inspector opens its stream so)."""
    async with project_http(engine, live_server, "read-first") as http:
        execution_id, conversation = await chat(http)
        detail = (await http.get(f"{P}/workflow_executions/{execution_id}")).json()["data"]
        read = {event["id"]: event["sequence"] for event in detail["events"]}
        assert list(read.values()) == list(range(1, len(read) + 1))
        listed = await http.get(f"{P}/workflow_executions/{execution_id}/events")
        for event in listed.json()["data"]:
            assert read.get(event["id"], event["sequence"]) == event["sequence"]

        newest = len(read)
        await say(http, conversation, "after reading")
        path = f"{P}/workflow_executions/{execution_id}/events/stream"
        async with open_stream(http, path, last_event_id=str(newest)) as stream:
            seen = await stream.until(
                lambda e: e["event"] == "event" and e["data"]["event_type"] == "user_input_received"
            )
        events = [e for e in seen if e["event"] == "event"]
        assert int(events[0]["id"]) == newest + 1
        assert [e["data"]["sequence"] for e in events] == [int(e["id"]) for e in events]
        assert not {e["data"]["id"] for e in events} & set(read)


async def test_a_conversation_stream_resumes_without_loss(live_server, engine, clock):
    async with project_http(engine, live_server, "messages") as http:
        _, conversation = await chat(http)
        path = f"{P}/whatsapp/conversations/{conversation}/events/stream"
        async with open_stream(http, path) as stream:
            [opening] = await stream.until(lambda e: e["event"] == "message")
        assert opening["data"]["kapso"]["content"] == "Say something"
        clock.advance(60)  # what follows is well after the position we resume from
        await say(http, conversation, "three")
        await say(http, conversation, "four")
        async with open_stream(http, path, last_event_id=opening["id"]) as stream:
            seen = await stream.until(
                lambda e: (
                    e["data"]["kapso"]["content"] == "you said four"
                    and e["data"]["kapso"]["direction"] == "outbound"
                )
            )
        texts = {e["data"]["kapso"]["content"] for e in seen}
        assert {"three", "you said three", "four"} <= texts
        # Read again from a margin before the position (services/streams/follow.py):
        # what was sent at the position may come again, as the same message.
        again = [e["data"]["id"] for e in seen if e["data"]["kapso"]["content"] == "Say something"]
        assert again in ([], [opening["data"]["id"]])


async def test_another_projects_ids_are_not_found(live_server, engine):
    _, key = await new_project(engine, "mine")
    _, other_key = await new_project(engine, "theirs")
    async with (
        httpx.AsyncClient(
            base_url=live_server, headers={"X-API-Key": key}, timeout=PATIENCE
        ) as http,
        httpx.AsyncClient(
            base_url=live_server, headers={"X-API-Key": other_key}, timeout=PATIENCE
        ) as other,
    ):
        execution_id, conversation = await chat(http)
        paths = {
            f"{P}/workflow_executions/{{}}/events/stream": execution_id,
            f"{P}/whatsapp/conversations/{{}}/events/stream": conversation,
            f"{P}/sandbox/conversations/{{}}/events/stream": conversation,
        }
        for template, object_id in paths.items():
            theirs = await other.get(template.format(object_id))
            unknown = await other.get(template.format("nope"))
            assert theirs.status_code == unknown.status_code == 404, theirs.text
            assert theirs.json()["error"] == unknown.json()["error"].replace("nope", object_id)
        async with httpx.AsyncClient(base_url=live_server) as anonymous:
            unsigned = await anonymous.get(f"{P}/inbox/events/stream")
        assert unsigned.status_code == 401
        bad = await http.get(f"{P}/inbox/events/stream", headers={"Last-Event-ID": "x"})
        assert bad.status_code == 422

        # The other project's inbox hears of its own conversation, never of ours.
        async with open_stream(other, f"{P}/inbox/events/stream") as inbox:
            await say(http, conversation, "private")
            _, their_conversation = await chat(other)
            event = await inbox.next()
        assert event["event"] == "conversation"
        assert event["data"]["id"] == their_conversation


async def test_a_change_from_another_process_reaches_the_stream(engine, db_url, clock, settings):
    """The stream's server runs no worker and is never woken by its own commits: what
    arrives was written by a second process (PostgreSQL: its NOTIFY wakes the stream)."""
    _, key = await new_project(engine, "elsewhere")
    async with (
        serve(create_app(engine, run_worker=False)) as base,
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=PATIENCE) as http,
    ):
        other = build_process(db_url, clock=clock, settings=settings, pool_size=2)
        try:
            _, conversation = await chat(http)
            await other.worker.drain()  # sends the question: the stream's first read has it
            path = f"{P}/whatsapp/conversations/{conversation}/events/stream"
            async with open_stream(http, path) as stream:
                # Once it is here, the stream has read; what comes next must wake it.
                await stream.until(lambda e: e["data"]["kapso"]["content"] == "Say something")
                await sandbox.say(other, conversation, "from afar", route_now=True)
                seen = await stream.until(lambda e: e["data"]["kapso"]["content"] == "from afar")
            assert seen[-1]["data"]["kapso"]["direction"] == "inbound"
        finally:
            await other.close()


async def test_an_idle_stream_holds_no_database_connection(engine, backend):
    """Streams wait on the notifier, not on a connection: five open, idle streams leave
    the pool as it was (no worker runs here, so nothing else holds one)."""
    _, key = await new_project(engine, "idle")
    pool = engine.db.engine.pool
    async with (
        serve(create_app(engine, run_worker=False)) as base,
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=PATIENCE) as http,
    ):
        execution_id, _ = await chat(http)
        path = f"{P}/workflow_executions/{execution_id}/events/stream"
        async with contextlib.AsyncExitStack() as streams:
            for _ in range(5):
                stream = await streams.enter_async_context(open_stream(http, path))
                await stream.until(is_execution)  # its first read is over
            assert pool.checkedout() == 0, f"{pool.checkedout()} connections held ({backend})"


async def test_a_revoked_key_ends_its_open_stream(live_server, engine):
    async with project_http(engine, live_server, "revoked") as http:
        execution_id, _ = await chat(http)
        path = f"{P}/workflow_executions/{execution_id}/events/stream"
        async with open_stream(http, path) as stream:
            await stream.until(is_execution)
            [listed] = (await http.get(f"{P}/api_keys")).json()["data"]
            assert (await http.delete(f"{P}/api_keys/{listed['id']}")).status_code == 204
            with pytest.raises(AssertionError, match="the stream ended"):
                await stream.next()
        assert (await http.get(path)).status_code == 401


async def test_a_last_event_id_out_of_range_is_refused_before_the_stream(live_server, engine):
    """A position no event can have (past the seq column, past the calendar) is a 422 up
    front; it used to be a 200 whose first read failed (a broken stream)."""
    async with project_http(engine, live_server, "range") as http:
        execution_id, conversation = await chat(http)
        execution = f"{P}/workflow_executions/{execution_id}/events/stream"
        timed = [
            f"{P}/whatsapp/conversations/{conversation}/events/stream",
            f"{P}/sandbox/conversations/{conversation}/events/stream",
            f"{P}/inbox/events/stream",
        ]
        refused = [(execution, str(2**31)), (execution, "9" * 20)]
        refused += [(path, value) for path in timed for value in ("9" * 20, str(MAX_MICROS + 1))]
        for path, value in refused:
            answer = await http.get(path, headers={"Last-Event-ID": value})
            assert answer.status_code == 422, (path, value, answer.text)
            assert answer.json()["details"][0]["field"] == "Last-Event-ID"
        # The largest positions still open a stream (open_stream checks the 200).
        async with open_stream(http, execution, last_event_id=str(2**31 - 1)) as stream:
            assert (await stream.next())["event"] == "execution"
        async with open_stream(http, timed[0], last_event_id=str(MAX_MICROS)):
            pass
