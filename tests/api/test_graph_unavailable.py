"""Connecting a WhatsApp number when the Graph API cannot answer (nothing listening, or
Meta failing with a 5xx) is a 503 saying to try again, not a 422: only Meta's refusal
of the token says the request is wrong (issue 8). SQLite and PostgreSQL."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
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
from convoflow.services.common import Actor
from convoflow.services.whatsapp import phone_numbers
from tests.api.helpers import P

NUMBER = "100000000000123"


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def meta_failing(_request: Request) -> JSONResponse:
    error = {"message": "An unexpected error has occurred.", "code": 2, "type": "OAuthException"}
    return JSONResponse({"error": error}, status_code=503)


@pytest.fixture(params=["nothing listening", "5xx"])
async def graph_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    if request.param == "nothing listening":
        yield f"http://127.0.0.1:{closed_port()}/v23.0"
        return
    app = Starlette(routes=[Route("/{path:path}", meta_failing, methods=["GET", "POST"])])
    async with serve_app(app) as url:
        yield f"{url}/v23.0"


@pytest.fixture
def settings(graph_url: str) -> Settings:
    return Settings(
        worker_poll_seconds=0.05,
        rate_limit_per_minute=1_000_000,
        start_burst_per_second=1_000_000,
        graph_base_url=graph_url,
    )


def number_body(**fields: Any) -> dict[str, Any]:
    return {
        "whatsapp_phone_number": {
            "phone_number_id": NUMBER, "access_token": "EAAG-token", "app_secret": "s",
            **fields,
        }
    }  # fmt: skip


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    message = response.json()["error"]
    assert "could not reach the WhatsApp Graph API" in message and "try again" in message
    assert NUMBER in message and "EAAG-token" not in response.text
    assert response.headers["retry-after"]


async def test_connecting_a_number_without_the_graph_api_is_a_503(
    client: httpx.AsyncClient,
) -> None:
    assert_unavailable(await client.post(f"{P}/whatsapp/phone_numbers", json=number_body()))
    assert (await client.get(f"{P}/whatsapp/phone_numbers/{NUMBER}")).status_code == 404


async def test_rotating_a_token_without_the_graph_api_is_a_503(
    client: httpx.AsyncClient, engine: Process, project: tuple[str, str]
) -> None:
    spec = phone_numbers.NumberSpec(
        phone_number_id=NUMBER, access_token="EAAG-old", app_secret="s", verify_token="v"
    )
    await phone_numbers.add_number(engine, Actor(project[0]), spec, prefix="--", verify=False)
    rotated = await client.patch(
        f"{P}/whatsapp/phone_numbers/{NUMBER}",
        json={"whatsapp_phone_number": {"access_token": "EAAG-token"}},
    )
    assert_unavailable(rotated)
