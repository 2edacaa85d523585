"""Secrets that used to get past the log redaction (issue 8, item 4), each found by
running `convoflow serve` (a subprocess, default log level) with its output captured:

- Outbound URLs: a URL a tenant's code or flow calls is built from templates and secrets
  (`${ENV:…}`, a function's `env`), in its query (`?key=…`) or its path (`/hooks/<token>`,
  as chat webhooks are). httpx and httpx2 (the MCP SDK's client) log every request's full
  URL at INFO, `convoflow serve`'s default level: a function that fetched such a URL
  wrote its secret into the log.
- A percent-encoded query parameter name (`hub.verify_toke%6E=<token>`), which the
  server decodes like any other, so Meta's handshake succeeds with it: the access log
  line kept the verify token. And `Authorization: Bearer <key>` in free text: the pattern
  took `Bearer` for the value and left the key.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from convoflow.fakes.loopback import serve_app
from convoflow.observability.logs import scrub_text
from convoflow.process import build_process
from tests.api.conftest import new_project
from tests.observability.server import ServerProcess

P = "/platform/v1"
FUNCTION_SECRET = "outboundFunctionSecret3c1d9e"
VERIFY_TOKEN = "leakVerifyToken8f2e61"
# The function fetches the URL, then fails with an error that names no secret.
CODE = """
async function handler(request, env) {
  const target = (await request.json()).target;
  await fetch(target + "/hooks/" + env.PARTNER_KEY + "?key=" + env.PARTNER_KEY);
  throw new Error("the partner did not answer as expected");
}
"""


class Partner:
    """The outside service the function calls: it records the paths it was asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            self.paths.append(f"{request.url.path}?{request.url.query}")
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/hooks/{token}", hook, methods=["GET"])])


@pytest.fixture
async def partner() -> AsyncIterator[tuple[Partner, str]]:
    holder = Partner()
    async with serve_app(holder.app()) as url:
        yield holder, url


async def _key(db_url: str) -> str:
    engine = build_process(db_url, pool_size=2)
    try:
        _project_id, key = await new_project(engine, "outbound", allow_private_network=True)
        return key
    finally:
        await engine.close()


async def test_fetched_urls_and_encoded_parameters_hold_no_secret(
    db_url: str, tmp_path: Path, partner: tuple[Partner, str]
) -> None:
    key = await _key(db_url)
    server = ServerProcess(db_url, tmp_path / "server.log", CONVOFLOW_LOG_LEVEL="INFO")
    server.start()
    try:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"X-API-Key": key}, timeout=30
        ) as api:
            function = {"function": {"name": "Partner", "code": CODE}}
            created = await api.post(f"{P}/functions", json=function)
            assert created.status_code == 201, created.text
            function_id = created.json()["data"]["id"]
            assert (await api.post(f"{P}/functions/{function_id}/deploy")).status_code == 202
            secret = {"secret": {"name": "PARTNER_KEY", "value": FUNCTION_SECRET}}
            response = await api.post(f"{P}/functions/{function_id}/secrets", json=secret)
            assert response.status_code == 201, response.text
            invoked = await api.post(
                f"{P}/functions/{function_id}/invoke", json={"target": partner[1]}
            )
            assert invoked.status_code == 502, invoked.text  # it failed, after the fetch
            # A handshake whose parameter name is percent-encoded (the server decodes it;
            # no number has this token, but a guess is a secret as much as a match).
            handshake = await api.get(
                "/webhooks/whatsapp?hub.mode=subscribe"
                f"&hub.verify_toke%6E={VERIFY_TOKEN}&hub.challenge=77"
            )
            assert handshake.status_code == 403, handshake.text
    finally:
        server.stop()
    assert partner[0].paths == [f"/hooks/{FUNCTION_SECRET}?key={FUNCTION_SECRET}"]
    output = server.output()
    assert b"POST /platform/v1/functions/" in output  # the access log is there
    assert b"GET /webhooks/whatsapp?hub.mode=subscribe" in output
    secrets = {"function secret": FUNCTION_SECRET, "verify token": VERIFY_TOKEN}
    leaked = {name: output.count(value.encode()) for name, value in secrets.items()}
    assert leaked == {"function secret": 0, "verify token": 0}, output.decode(errors="replace")


def test_credential_patterns_in_text() -> None:
    cases = {
        "(b'authorization', b'Bearer k1')": "(b'authorization', b'[redacted]')",
        "{'Authorization': 'Bearer k1'}": "{'Authorization': '[redacted]'}",
        "Authorization: Basic k1": "Authorization: [redacted]",
        "GET /x?hub.verify_toke%6E=k1&hub.mode=subscribe HTTP/1.1":
            "GET /x?hub.verify_toke%6E=[redacted]&hub.mode=subscribe HTTP/1.1",
        "GET /x?apikey=k1": "GET /x?apikey=[redacted]",
        # Not credentials: left as they are.
        "GET /x?hub.mode=subs%63ribe&a=b": "GET /x?hub.mode=subs%63ribe&a=b",
        "max_tokens=100 tokens: 5": "max_tokens=100 tokens: 5",
    }  # fmt: skip
    assert {text: scrub_text(text) for text in cases} == cases


def test_scrubbing_a_hostile_line_takes_linear_time() -> None:
    """Every access-log line is scrubbed, and its URL is the client's: a pattern that
    backtracks is a way to stop the server. 400 `%41` escapes in a path took 2.8 s (and
    cubic time beyond) with the first pattern for encoded names; these take milliseconds."""
    lines = [
        "GET /x/" + "%41" * 20_000 + " HTTP/1.1",
        "GET /x?" + "%41" * 20_000 + " HTTP/1.1",
        "GET /x?" + "&a%4" * 20_000,
        "?a%41=b" * 5_000,
        "token: " + " " * 20_000,
        "Authorization: " + "Bearer " * 20_000,
    ]
    for line in lines:
        started = time.perf_counter()
        scrub_text(line)
        assert time.perf_counter() - started < 2.0, line[:40]
