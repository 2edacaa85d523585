"""`convoflow phone-numbers add|list`, on both databases: the number is stored with its
secrets, which the command never prints (nor logs)."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner, Result

from convoflow.cli import app
from convoflow.config import get_settings
from convoflow.fakes.graph.server import FakeGraph
from convoflow.fakes.loopback import serve_app
from convoflow.process import build_process
from convoflow.store import phone_numbers as number_store

runner = CliRunner()
SECRETS = ("EAAG-cli-token", "cli-app-secret", "cli-verify-token")


def _stored(url: str, phone_number_id: str) -> dict[str, object]:
    async def read() -> dict[str, object]:
        engine = build_process(url, pool_size=1)
        try:
            async with engine.db.read() as conn:
                row = await number_store.get_credentials_row(conn, phone_number_id)
                assert row is not None
                return dict(row)
        finally:
            await engine.close()

    return asyncio.run(read())


def test_phone_numbers_add_and_list(db_url: str) -> None:
    created = runner.invoke(app, ["projects", "create", "acme", "--database-url", db_url])
    assert created.exit_code == 0, created.output
    args = [
        "phone-numbers", "add", "--project", "acme", "--phone-number-id", "100000000000001",
        "--display-phone-number", "+1 555 010 0000", "--access-token", SECRETS[0],
        "--app-secret", SECRETS[1], "--verify-token", SECRETS[2], "--database-url", db_url,
        "--no-verify",
    ]  # fmt: skip
    added = runner.invoke(app, args)
    assert added.exit_code == 0, added.output
    view = json.loads(added.stdout)
    assert view["phone_number_id"] == "100000000000001"
    assert view["display_phone_number_normalized"] == "15550100000"
    stored = _stored(db_url, "100000000000001")
    assert (stored["access_token"], stored["app_secret"], stored["verify_token"]) == SECRETS
    again = runner.invoke(app, args)
    assert again.exit_code != 0 and "already configured" in again.output
    listed = runner.invoke(
        app, ["phone-numbers", "list", "--project", "acme", "--database-url", db_url]
    )
    assert listed.exit_code == 0 and json.loads(listed.stdout)[0]["id"] == "100000000000001"
    for output in (added.output, again.output, listed.output):
        assert not any(secret in output for secret in SECRETS)
    unknown = runner.invoke(app, [*args[:3], "nope", *args[4:]])
    assert unknown.exit_code != 0 and "no project" in unknown.output


@contextmanager
def fake_graph_thread(fake: FakeGraph) -> Iterator[str]:
    """The fake Graph API on a loopback port, in a thread with its own event loop (the
    CLI runs its own `asyncio.run`)."""
    urls: queue.Queue[str] = queue.Queue()
    stop = threading.Event()

    async def main() -> None:
        async with serve_app(fake.app) as url:
            urls.put(url)
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        yield urls.get(timeout=30)
    finally:
        stop.set()
        thread.join(timeout=30)


def test_phone_numbers_add_proves_control_unless_no_verify(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeGraph(statuses=[])
    fake.configure({"known_numbers_only": True})
    fake.register_number(
        "100000000000001", SECRETS[0], display_phone_number="+1 555 010 0009",
        verified_name="Acme Support", quality_rating="YELLOW",
    )  # fmt: skip
    assert (
        runner.invoke(app, ["projects", "create", "acme", "--database-url", db_url]).exit_code == 0
    )
    with fake_graph_thread(fake) as url:
        monkeypatch.setenv("CONVOFLOW_GRAPH_BASE_URL", f"{url}/v23.0")
        get_settings.cache_clear()
        try:

            def add(number: str, token: str, *extra: str) -> Result:
                return runner.invoke(app, [
                    "phone-numbers", "add", "--project", "acme", "--phone-number-id", number,
                    "--access-token", token, "--app-secret", "s", "--verify-token", "v",
                    "--database-url", db_url, *extra,
                ])  # fmt: skip

            wrong = add("100000000000001", "EAAG-not-this-numbers-token")
            unknown = add("100000000000002", SECRETS[0])
            added = add("100000000000001", SECRETS[0])
            unchecked = add("100000000000003", "anything", "--no-verify")
        finally:
            get_settings.cache_clear()
    for refused in (wrong, unknown):
        assert refused.exit_code != 0
        assert "does not exist, cannot be loaded" in refused.output
    assert added.exit_code == 0, added.output
    view = json.loads(added.stdout)
    assert (view["display_phone_number"], view["verified_name"], view["quality_rating"]) == (
        "+1 555 010 0009", "Acme Support", "YELLOW",
    )  # fmt: skip
    assert unchecked.exit_code == 0, unchecked.output
