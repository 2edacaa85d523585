"""End-to-end WhatsApp fixtures, on SQLite and PostgreSQL: the fake Graph API on a
loopback port (the engine sends to it), the app on another (Meta's webhooks and the API),
a configured number, and a receiver for webhook nodes and project webhooks.

The app runs without its worker: tests drive `engine.worker.drain()` and move the
FakeClock over debounce windows, so every step is deterministic (no timing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from convoflow.api.app import create_app
from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.clock import FakeClock
from convoflow.config import Settings
from convoflow.fakes.graph.server import DEFAULT_PHONE_NUMBER_ID, FakeGraph
from convoflow.fakes.loopback import serve_app
from convoflow.process import Process
from convoflow.services.common import Actor
from convoflow.services.whatsapp import phone_numbers
from tests.api.conftest import new_project, serve
from tests.whatsapp.conftest import Receiver, receiver  # noqa: F401  (fixture)

NUMBER = DEFAULT_PHONE_NUMBER_ID
APP_SECRET = "e2e-app-secret"
ACCESS_TOKEN = "EAAG-e2e-access-token"
VERIFY_TOKEN = "e2e-verify-token"
USER = "15550001111"
P = "/platform/v1"


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeGraph, str]]:
    graph = FakeGraph(app_secret=APP_SECRET, status_delay_seconds=0.0)
    async with serve_app(graph.app) as url:
        yield graph, url


@pytest.fixture
def settings(fake: tuple[FakeGraph, str]) -> Settings:
    return Settings(
        worker_poll_seconds=0.05,
        rate_limit_per_minute=1_000_000,
        start_burst_per_second=1_000_000,
        graph_base_url=f"{fake[1]}/v23.0",
        graph_conversation_interval_seconds=0.0,
    )


@dataclass
class World:
    engine: Process
    clock: FakeClock
    fake: FakeGraph
    api: httpx.AsyncClient  # the app over loopback HTTP, with the project's key
    url: str
    project_id: str
    key: str

    @property
    def actor(self) -> Actor:
        return Actor(project_id=self.project_id)

    async def post_webhook(self, payload: Any, *, secret: str = APP_SECRET) -> httpx.Response:
        raw, headers = bodies.signed(payload, secret)
        return await self.api.post("/webhooks/whatsapp", content=raw, headers=headers)

    async def say(self, text: str | None = None, *, user: str = USER, **request: Any) -> str:
        """A simulated user writes (the fake Graph POSTs the signed webhook to the app)."""
        if text is not None:
            request["text"] = text
        result = await self.fake.simulate_inbound({"from": user, "name": "Ana", **request})
        assert result["webhook_status"] == 200, result
        return str(result["wamid"])

    async def settle(self, seconds: float = 1.0) -> None:
        """Let the debounce window pass, run every due job and send, and wait for the
        fake's status webhooks, until nothing moves."""
        self.clock.advance(seconds)
        for _ in range(20):
            done = await self.engine.worker.drain()
            pending = bool(self.fake._tasks)
            await self.fake.settle()
            if not done and not pending:
                return
        raise AssertionError("the system did not settle")

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.api.get(f"{P}{path}", params=params)
        assert response.status_code == 200, response.text
        return response.json()


async def add_number(engine: Process, project_id: str, **extra: Any) -> None:
    spec = phone_numbers.NumberSpec(
        phone_number_id=extra.pop("phone_number_id", NUMBER),
        access_token=ACCESS_TOKEN,
        app_secret=extra.pop("app_secret", APP_SECRET),
        verify_token=VERIFY_TOKEN,
        display_phone_number="+1 555 010 0000",
        name="Support",
        **extra,
    )
    await phone_numbers.add_number(engine, Actor(project_id=project_id), spec)


@pytest.fixture
async def world(
    engine: Process, clock: FakeClock, fake: tuple[FakeGraph, str]
) -> AsyncIterator[World]:
    project_id, key = await new_project(engine, "wa", allow_private_network=True)
    fake[0].register_number(NUMBER, ACCESS_TOKEN, display_phone_number="+1 555 010 0000")
    await add_number(engine, project_id)
    async with serve(create_app(engine, run_worker=False)) as url:
        fake[0].configure({"webhook_url": f"{url}/webhooks/whatsapp"})
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=30) as api:
            yield World(engine, clock, fake[0], api, url, project_id, key)
