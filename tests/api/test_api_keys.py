"""GET /platform/v1/api_keys and DELETE /platform/v1/api_keys/{id} (ours), and `convoflow
api-keys list|revoke`: a revoked key is refused at once by the process that revoked it,
at once by another server process on PostgreSQL (NOTIFY), and after at most the cache
time elsewhere; another project's keys can be neither seen nor revoked."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

import convoflow
from convoflow.api.app import create_app
from convoflow.cli import app as cli_app
from convoflow.clock import FakeClock
from convoflow.config import Settings
from convoflow.engine.advance import Advance
from convoflow.process import Process, build_process
from convoflow.services.projects.accounts import create_api_key
from convoflow.services.projects.key_cache import KEY_CACHE_SECONDS
from tests.api.conftest import new_project
from tests.api.helpers import P


async def add_key(engine: Process, project_id: str, name: str) -> str:
    async def create(adv: Advance) -> str:
        return await create_api_key(adv.conn, engine.clock, project_id, name)

    return await engine.runtime.op(create)


def as_key(app: Any, key: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://t", headers={"X-API-Key": key})


async def key_id(client: httpx.AsyncClient, name: str) -> str:
    listed = await client.get(f"{P}/api_keys")
    assert listed.status_code == 200, listed.text
    return str(next(k["id"] for k in listed.json()["data"] if k["name"] == name))


async def test_list_and_revoke_is_refused_at_once_here(app, client, project, engine):
    second = await add_key(engine, project[0], "ci")
    async with as_key(app, second) as ci:
        assert (await ci.get(f"{P}/workflows")).status_code == 200  # now cached
        listed = await client.get(f"{P}/api_keys")
        assert listed.status_code == 200
        keys = listed.json()["data"]
        assert [k["name"] for k in keys] == ["tests", "ci"]
        assert all(k["active"] and k["revoked_at"] is None for k in keys)
        assert project[1] not in listed.text and second not in listed.text
        assert "key_hash" not in keys[0] and second.startswith(keys[1]["prefix"])

        revoked = await client.delete(f"{P}/api_keys/{keys[1]['id']}")
        assert revoked.status_code == 204
        refused = await ci.get(f"{P}/workflows")  # same process: no waiting for the cache
        assert refused.status_code == 401 and "no active key" in refused.json()["error"]
    after = (await client.get(f"{P}/api_keys")).json()["data"]
    assert after[1]["active"] is False and after[1]["revoked_at"] is not None
    assert (await client.delete(f"{P}/api_keys/{keys[1]['id']}")).status_code == 204
    missing = await client.delete(f"{P}/api_keys/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and "API key" in missing.json()["error"]


async def test_a_key_can_revoke_itself(app, client, project):
    own = await key_id(client, "tests")
    assert (await client.delete(f"{P}/api_keys/{own}")).status_code == 204
    assert (await client.get(f"{P}/workflows")).status_code == 401


async def test_another_projects_keys_can_be_neither_listed_nor_revoked(app, client, engine):
    victim = await key_id(client, "tests")
    _, hostile_key = await new_project(engine, "hostile")
    async with as_key(app, hostile_key) as hostile:
        seen = (await hostile.get(f"{P}/api_keys")).json()["data"]
        assert [k["id"] for k in seen] != [victim] and victim not in str(seen)
        attempt = await hostile.delete(f"{P}/api_keys/{victim}")
        assert attempt.status_code == 404
    assert (await client.get(f"{P}/workflows")).status_code == 200
    assert (await client.get(f"{P}/api_keys")).json()["data"][0]["active"] is True


async def test_another_process_refuses_within_the_cache_time(
    db_url: str, client, project, engine, settings: Settings, clock: FakeClock
):
    """A second server on the same database that heard nothing (SQLite has no NOTIFY)
    refuses the key once its cache entry is KEY_CACHE_SECONDS old."""
    second = await add_key(engine, project[0], "ci")
    other_engine = build_process(db_url, clock=clock, settings=settings, pool_size=2)
    try:
        async with as_key(create_app(other_engine, run_worker=False), second) as elsewhere:
            assert (await elsewhere.get(f"{P}/workflows")).status_code == 200
            revoked = await client.delete(f"{P}/api_keys/{await key_id(client, 'ci')}")
            assert revoked.status_code == 204
            clock.advance(KEY_CACHE_SECONDS)
            assert (await elsewhere.get(f"{P}/workflows")).status_code == 401
    finally:
        await other_engine.close()
    assert KEY_CACHE_SECONDS <= 10


SRC = str(Path(convoflow.__file__).resolve().parents[1])


def spawn_server(db_url: str, cwd: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "convoflow", "serve", "--no-worker", "--port", str(port),
         "--database-url", db_url, "--log-level", "warning"],
        cwd=cwd, env=dict(os.environ, PYTHONPATH=SRC),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    return proc, port


@pytest.fixture
async def server_process(db_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """`convoflow serve --no-worker` in a child process on the same database."""
    proc, port = spawn_server(db_url, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(600):
                if proc.poll() is not None:
                    raise AssertionError(proc.stderr.read().decode() if proc.stderr else "")
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_postgresql_server_process_refuses_at_once(
    backend: str, server_process: str, client, project, engine
):
    if backend == "sqlite":
        pytest.skip("NOTIFY is PostgreSQL's; SQLite processes wait for the cache time")
    second = await add_key(engine, project[0], "ci")
    async with httpx.AsyncClient(base_url=server_process, headers={"X-API-Key": second}) as other:
        assert (await other.get(f"{P}/workflows")).status_code == 200  # cached over there
        revoked = await client.delete(f"{P}/api_keys/{await key_id(client, 'ci')}")
        assert revoked.status_code == 204
        # NOTIFY arrives in milliseconds; without it the answer would stay 200 for the
        # whole cache time, longer than this loop can run.
        statuses = []
        for _ in range(40):
            statuses.append((await other.get(f"{P}/workflows")).status_code)
            if statuses[-1] == 401:
                break
            await asyncio.sleep(0.05)
        assert statuses[-1] == 401, statuses


class _Cli:
    """`convoflow` against the test's database, in process: `invoke` returns the result,
    `run` asserts success and returns its stdout."""

    def __init__(self, db_url: str) -> None:
        self.runner = CliRunner()
        self.db_url = db_url

    def invoke(self, *args: str) -> Result:
        return self.runner.invoke(cli_app, [*args, "--database-url", self.db_url])

    def run(self, *args: str) -> str:
        result = self.invoke(*args)
        assert result.exit_code == 0, result.output
        return result.stdout


def test_cli_lists_and_revokes(db_url: str) -> None:
    cli = _Cli(db_url)
    run = cli.run

    run("projects", "create", "acme")
    key = run("api-keys", "create", "--project", "acme", "--name", "ops").splitlines()[-1]
    (line,) = run("api-keys", "list", "--project", "acme").splitlines()
    assert key not in line and "ops" in line and line.endswith("active")
    key_id = line.split()[0]
    assert "revoked" in run("api-keys", "revoke", key_id, "--project", "acme")
    assert "REVOKED" in run("api-keys", "list", "--project", "acme")
    other = cli.invoke("api-keys", "revoke", key_id, "--project", "nope")
    assert other.exit_code != 0


def test_cli_lists_and_revokes_without_naming_the_project(db_url: str) -> None:
    """An operator with a shell lists every project's keys, and revokes one by its id or
    by the key itself (a leaked key, whose id nobody has at hand) without naming the
    project; the key is never printed back."""
    cli = _Cli(db_url)
    run = cli.run

    run("projects", "create", "acme")
    run("projects", "create", "beta")
    run("api-keys", "create", "--project", "acme", "--name", "ops")
    leaked = run("api-keys", "create", "--project", "beta", "--name", "ci").splitlines()[-1]
    lines = run("api-keys", "list").splitlines()
    assert [line.split("  ")[3] for line in lines] == ["project acme", "project beta"], lines
    assert all(line.endswith("active") and leaked not in line for line in lines)
    acme_id, beta_id = (line.split()[0] for line in lines)

    assert f"API key {acme_id} revoked" in run("api-keys", "revoke", acme_id)
    by_key = run("api-keys", "revoke", leaked)
    assert f"API key {beta_id} revoked" in by_key and leaked not in by_key
    assert all("REVOKED" in line for line in run("api-keys", "list").splitlines())
    unknown = cli.invoke("api-keys", "revoke", "cf_notakey")
    assert unknown.exit_code != 0 and "cf_notakey" not in unknown.output


def test_cli_revokes_by_key_within_the_named_project_only(db_url: str) -> None:
    """With --project the argument is still an id or the key itself; another project's
    key is refused and left alone, and no answer prints the key back."""
    invoke = _Cli(db_url).invoke

    invoke("projects", "create", "acme")
    invoke("projects", "create", "beta")
    acme_key = invoke("api-keys", "create", "--project", "acme").stdout.splitlines()[-1]
    beta_key = invoke("api-keys", "create", "--project", "beta").stdout.splitlines()[-1]
    beta_id = invoke("api-keys", "list", "--project", "beta").stdout.split()[0]

    for other in (beta_key, beta_id):
        refused = invoke("api-keys", "revoke", other, "--project", "acme")
        assert refused.exit_code != 0, refused.output
        assert "not one of project acme's" in refused.output, refused.output
        assert beta_key not in refused.output
    assert "active" in invoke("api-keys", "list", "--project", "beta").stdout

    revoked = invoke("api-keys", "revoke", acme_key, "--project", "acme")
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout, revoked.output
    assert acme_key not in revoked.output
    assert "REVOKED" in invoke("api-keys", "list", "--project", "acme").stdout
    unknown = invoke("api-keys", "revoke", "cf_notakey", "--project", "acme")
    assert unknown.exit_code != 0 and "cf_notakey" not in unknown.output


async def test_create_shows_the_key_once_and_it_works(app, client, project):
    created = await client.post(f"{P}/api_keys", json={"name": "robot"})
    assert created.status_code == 201, created.text
    body = created.json()["data"]
    assert body["name"] == "robot" and body["active"] and body["key"].startswith(body["prefix"])
    async with as_key(app, body["key"]) as robot:
        listed = (await robot.get(f"{P}/api_keys")).json()["data"]
    assert [k["name"] for k in listed] == ["tests", "robot"]
    assert all("key" not in k for k in listed)  # never shown again
    bad = await client.post(f"{P}/api_keys", json={"name": "", "extra": 1})
    assert bad.status_code == 422, bad.text
