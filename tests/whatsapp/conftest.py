"""WhatsApp channel fixtures: the wa-fixtures corpus, the fake Graph API served on a
loopback port, and a tiny webhook receiver that records what reaches it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from convoflow.fakes.graph.server import FakeGraph
from convoflow.fakes.loopback import serve_app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wa"
APP_SECRET = "test-app-secret"


def load_fixture_file(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


def all_cases() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path.name, case, body)
        for path in sorted(FIXTURES.glob("*.json"))
        for case, body in load_fixture_file(path.name).items()
    ]


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every POST; `wait_for(n)` waits (bounded) until n have arrived."""

    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    status_code: int = 200
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int) -> list[Hit]:
        # Bounded so a missing webhook fails the test instead of hanging it.
        async with asyncio.timeout(10):
            while len(self.hits) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.hits


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def record(request: Request) -> PlainTextResponse:
        state.hits.append(Hit(dict(request.headers), await request.body()))
        state.arrived.set()
        return PlainTextResponse("ok", status_code=state.status_code)

    app = Starlette(routes=[Route("/hook", record, methods=["POST"])])
    async with serve_app(app) as base_url:
        state.url = f"{base_url}/hook"
        yield state


@dataclass
class FakeServer:
    fake: FakeGraph
    url: str

    @property
    def graph_base_url(self) -> str:
        return f"{self.url}/v23.0"


@pytest.fixture
async def fake_server(receiver: Receiver) -> AsyncIterator[FakeServer]:
    fake = FakeGraph(webhook_url=receiver.url, app_secret=APP_SECRET, status_delay_seconds=0.0)
    async with serve_app(fake.app) as base_url:
        yield FakeServer(fake, base_url)
