"""`convoflow phone-numbers add|list`, on both databases: the number is stored with its
secrets, which the command never prints (nor logs)."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from convoflow.cli import app
from convoflow.services.container import build_engine
from convoflow.store import phone_numbers as number_store

runner = CliRunner()
SECRETS = ("EAAG-cli-token", "cli-app-secret", "cli-verify-token")


def _stored(url: str, phone_number_id: str) -> dict[str, object]:
    async def read() -> dict[str, object]:
        engine = build_engine(url, pool_size=1)
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
