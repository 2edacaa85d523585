"""Stored suites' runs beside the server's work: while a run waits on a slow webhook, the
server answers other requests and a second run proceeds beside it; a third is refused
with 503 until one finishes, then runs. (That a run is in a thread with an event loop of
its own, so its CPU-bound steps do not hold the server's loop, is testing/stored.py's
design; this test does not measure it.)"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from convoflow.config import Settings
from convoflow.fakes.loopback import serve_app
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


async def _workflow(client: httpx.AsyncClient, url: str) -> str:
    definition = chain(
        node("start", "start"),
        node("call", "webhook", url=url, method="POST", timeout_seconds=30,
             save_response_to="answer"),
        node("say", "send_text", message="got: {{vars.answer.state}}"),
    )  # fmt: skip
    workflow = await create_workflow(client, "Slow", definition)
    saved = await client.put(
        f"{P}/workflows/{workflow['id']}/test_suite", json={"test_suite": {"yaml": SUITE}}
    )
    assert saved.status_code == 200, saved.text
    return str(workflow["id"])


async def test_runs_leave_the_event_loop_free_and_are_limited(
    client: httpx.AsyncClient,
) -> None:
    webhook = SlowWebhook()
    async with serve_app(webhook.app) as base:
        workflow_id = await _workflow(client, f"{base}/hook")
        path = f"{P}/workflows/{workflow_id}/test_runs"
        first = asyncio.create_task(client.post(path))
        await webhook.until_arrived(1)
        # The run waits on the webhook in its own thread; this loop answers meanwhile.
        assert (await client.get(f"{P}/workflows/{workflow_id}/test_suite")).status_code == 200
        second = asyncio.create_task(client.post(path))
        await webhook.until_arrived(2)
        third = await client.post(path)
        assert third.status_code == 503, third.text
        assert "as many test runs as it allows at once" in third.json()["error"]
        webhook.release.set()
        answers: list[Any] = [await first, await second]
        for answer in answers:
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"]["counts"]["passed"] == 1, answer.text
        # The slots are free again.
        again = await client.post(path)
        assert again.status_code == 200, again.text
        assert again.json()["data"]["passed"] is True, again.text
