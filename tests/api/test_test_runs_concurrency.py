"""Stored suites' runs beside the server's work: while a run waits on a slow webhook, the
server answers other requests and another project's run proceeds beside it; a second run
of the same project is refused with 409 (one at a time per project), a third project's
with 503 until one finishes, then runs. Closing cancels the runs going and removes
their template. (That a run is in a thread with an event loop of
its own, so its CPU-bound steps do not hold the server's loop, is testing/stored.py's
design; this test does not measure it.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from convoflow.config import Settings
from convoflow.fakes.loopback import serve_app
from convoflow.process import Process
from convoflow.testing import stored
from convoflow.testing.parsing import parse_suite
from tests.api.conftest import new_project
from tests.api.helpers import P, create_workflow
from tests.support import chain, node

SUITE = """\
cases:
  - name: the webhook answers
    steps:
      - expect_bot: "got: ok"
"""


@pytest.fixture
def settings() -> Settings:
    # The run's throwaway database takes the server's egress policy: the slow webhook
    # below listens on loopback.
    return Settings(
        worker_poll_seconds=0.05,
        rate_limit_per_minute=1_000_000,
        start_burst_per_second=1_000_000,
        allow_private_network=True,
    )


class SlowWebhook:
    """Answers once `release` is set; counts the calls that arrived."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.arrived = 0
        self.changed = asyncio.Event()
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, _request: Request) -> JSONResponse:
        self.arrived += 1
        self.changed.set()
        await self.release.wait()
        return JSONResponse({"state": "ok"})

    async def until_arrived(self, count: int) -> None:
        while self.arrived < count:
            self.changed.clear()
            await self.changed.wait()


def _definition(url: str) -> dict[str, Any]:
    return chain(
        node("start", "start"),
        node("call", "webhook", url=url, method="POST", timeout_seconds=30,
             save_response_to="answer"),
        node("say", "send_text", message="got: {{vars.answer.state}}"),
    )  # fmt: skip


async def _workflow(client: httpx.AsyncClient, url: str) -> str:
    workflow = await create_workflow(client, "Slow", _definition(url))
    saved = await client.put(
        f"{P}/workflows/{workflow['id']}/test_suite", json={"test_suite": {"yaml": SUITE}}
    )
    assert saved.status_code == 200, saved.text
    return str(workflow["id"])


async def _other_client(app: Any, engine: Process, name: str) -> httpx.AsyncClient:
    _, key = await new_project(engine, name)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"X-API-Key": key},
    )


async def test_runs_leave_the_event_loop_free_and_are_limited(
    client: httpx.AsyncClient, app: Any, engine: Process
) -> None:
    webhook = SlowWebhook()
    async with (
        serve_app(webhook.app) as base,
        await _other_client(app, engine, "other") as other,
        await _other_client(app, engine, "third") as third_client,
    ):
        workflow_id = await _workflow(client, f"{base}/hook")
        other_id = await _workflow(other, f"{base}/hook")
        third_id = await _workflow(third_client, f"{base}/hook")
        path = f"{P}/workflows/{workflow_id}/test_runs"
        first = asyncio.create_task(client.post(path))
        await webhook.until_arrived(1)
        # The run waits on the webhook in its own thread; this loop answers meanwhile.
        assert (await client.get(f"{P}/workflows/{workflow_id}/test_suite")).status_code == 200
        # One run at a time per project: a second of the same project is a 409 (the
        # other project's run below still gets its slot).
        same = await client.post(path)
        assert same.status_code == 409, same.text
        assert "this project already has a test run going" in same.json()["error"]
        second = asyncio.create_task(other.post(f"{P}/workflows/{other_id}/test_runs"))
        await webhook.until_arrived(2)
        third = await third_client.post(f"{P}/workflows/{third_id}/test_runs")
        assert third.status_code == 503, third.text
        assert "as many test runs as it allows at once" in third.json()["error"]
        webhook.release.set()
        answers: list[Any] = [await first, await second]
        for answer in answers:
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"]["counts"]["passed"] == 1, answer.text
        # The slots, and the project's turn, are free again.
        again = await client.post(path)
        assert again.status_code == 200, again.text
        assert again.json()["data"]["passed"] is True, again.text


async def test_close_cancels_the_runs_going_then_removes_the_template(
    settings: Settings,
) -> None:
    webhook = SlowWebhook()
    runs = stored.SuiteRuns(settings)
    folder = runs._folder.name
    async with serve_app(webhook.app) as base:
        suite = parse_suite(
            SUITE, stored._PATH, stored=True, definition=_definition(f"{base}/hook"), name="s"
        )
        going = asyncio.create_task(runs.execute(suite))
        await webhook.until_arrived(1)  # the run copied the template and waits on the hook
        await runs.close()
        (result,) = await going
        folder_left = await asyncio.to_thread(Path(folder).exists)
        webhook.release.set()  # the cancelled call's handler, so the server stops
    assert result.outcome == "error", result
    assert result.lines == [stored.SHUTTING_DOWN]
    assert not folder_left
    # Closed: a new run is refused, not started on a removed template.
    refused = await asyncio.gather(runs.execute(suite), return_exceptions=True)
    assert "shutting down" in str(refused[0]), refused
