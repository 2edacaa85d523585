"""`convoflow projects create`, `api-keys create` and `demo` (what `make run` calls)."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from convoflow.cli import app
from convoflow.process import build_process
from convoflow.services.projects.accounts import hash_api_key
from convoflow.store import projects as project_store

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _key_exists(url: str, key: str) -> bool:
    async def check() -> bool:
        engine = build_process(url, pool_size=1)
        try:
            async with engine.db.read() as conn:
                return await project_store.find_api_key(conn, hash_api_key(key)) is not None
        finally:
            await engine.close()

    return asyncio.run(check())


def test_projects_and_keys(db_url):
    project_id = _invoke("projects", "create", "acme", "--database-url", db_url).strip()
    assert len(project_id) == 36
    again = runner.invoke(app, ["projects", "create", "acme", "--database-url", db_url])
    assert again.exit_code != 0 and "already exists" in again.output
    for name_or_id in ("acme", project_id):
        key = _invoke("api-keys", "create", "--project", name_or_id, "--database-url", db_url)
        key = key.strip().splitlines()[-1]
        assert key.startswith("cf_") and _key_exists(db_url, key)
    missing = runner.invoke(
        app, ["api-keys", "create", "--project", "nope", "--database-url", db_url]
    )
    assert missing.exit_code != 0


def test_demo_is_idempotent_and_prints_a_working_key(db_url):
    first = _invoke("demo", "--database-url", db_url)
    second = _invoke("demo", "--database-url", db_url)
    key = second.strip().splitlines()[-1]
    assert _key_exists(db_url, key)
    workflow_lines = [
        line for line in (first + second).splitlines() if line.startswith("workflow:")
    ]
    assert len({line.split()[1] for line in workflow_lines}) == 1  # the same workflow reused
    assert '"channel": "sandbox"' in second and "curl" in second
    # The example's test suite is stored with the demo workflow (the console's Tests page).
    workflow_id = workflow_lines[0].split()[1]
    assert "cases:" in _stored_suite(db_url, workflow_id)


def _stored_suite(url: str, workflow_id: str) -> str:
    from convoflow.store import test_suites

    async def read() -> str:
        engine = build_process(url, pool_size=1)
        try:
            async with engine.db.read() as conn:
                row = await test_suites.get_suite(conn, workflow_id)
                return str(row["yaml"]) if row is not None else ""
        finally:
            await engine.close()

    return asyncio.run(read())
