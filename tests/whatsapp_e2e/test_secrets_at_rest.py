"""Secrets at rest: after a number is connected, a project webhook (with a secret key and
a custom header), a function secret, a
project secret and a provider model's API key are created and a conversation runs, no
byte of the database holds any of those secrets in plaintext, each secret column holds
Fernet tokens under the process's key, and the secrets still work (signatures, Meta's
handshake, reads)."""

from __future__ import annotations

import json
import os

import sqlalchemy as sa
from cryptography.fernet import Fernet, MultiFernet

from convoflow.engine.advance import Advance
from convoflow.services.projects.accounts import set_secret
from convoflow.store import phone_numbers as number_store
from convoflow.store.db import Database
from convoflow.store.schema import metadata
from convoflow.store.secret_columns import SECRET_COLUMNS
from tests.whatsapp.conftest import Receiver
from tests.whatsapp_e2e.conftest import ACCESS_TOKEN, APP_SECRET, NUMBER, VERIFY_TOKEN, P, World

WEBHOOK_SECRET = "whsec-at-rest-4242"
FUNCTION_SECRET = "fn-secret-at-rest-4343"
PROJECT_SECRET = "project-secret-at-rest-4444"
PROVIDER_KEY = "sk-provider-at-rest-4545"
WEBHOOK_HEADER = "Bearer hook-header-at-rest-4646"
PLAINTEXTS = (
    ACCESS_TOKEN,
    APP_SECRET,
    VERIFY_TOKEN,
    WEBHOOK_SECRET,
    FUNCTION_SECRET,
    PROVIDER_KEY,
    PROJECT_SECRET,
    WEBHOOK_HEADER,
)


async def raw_tables(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table as the database returns it (no column types, no key)."""
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            return {
                table: [
                    tuple(row) for row in await conn.execute(sa.text(f'SELECT * FROM "{table}"'))
                ]
                for table in metadata.tables
            }
    finally:
        await db.dispose()


async def raw_secret_values(url: str) -> dict[tuple[str, str], list[str]]:
    """Every stored secret value, by column; a table the schema's revision lacks is left out."""
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
            found: dict[tuple[str, str], list[str]] = {}
            for table, column in SECRET_COLUMNS:
                if table not in tables:
                    continue
                query = sa.text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")
                found[(table, column)] = [str(value) for (value,) in await conn.execute(query)]
            return found
    finally:
        await db.dispose()


def process_key() -> MultiFernet:
    keys = os.environ["CONVOFLOW_SECRET_KEY"].split(",")
    return MultiFernet([Fernet(key.strip()) for key in keys])


async def _store_every_kind_of_secret(world: World, receiver: Receiver) -> None:
    webhook = await world.api.post(
        f"{P}/whatsapp/webhooks",
        json={"whatsapp_webhook": {"url": receiver.url, "events": ["whatsapp.message.received"],
                                   "secret_key": WEBHOOK_SECRET,
                                   "headers": {"Authorization": WEBHOOK_HEADER}}},
    )  # fmt: skip
    assert webhook.status_code == 201, webhook.text
    function = await world.api.post(
        f"{P}/functions",
        json={"function": {"name": "Echo", "function_type": "http", "endpoint_url": receiver.url}},
    )
    assert function.status_code == 201, function.text
    base = f"{P}/functions/{function.json()['data']['id']}"
    assert (await world.api.post(f"{base}/deploy")).status_code == 202
    secret = await world.api.post(
        f"{base}/secrets", json={"secret": {"name": "API_TOKEN", "value": FUNCTION_SECRET}}
    )
    assert secret.status_code == 201, secret.text

    async def project_secret(adv: Advance) -> None:
        await set_secret(adv.conn, world.clock, world.project_id, "CRM_TOKEN", PROJECT_SECRET)

    await world.engine.runtime.op(project_secret)
    model = {"name": "gpt-test", "base_url": "https://llm.example/v1", "api_key": PROVIDER_KEY}
    created = await world.api.post(f"{P}/provider_models", json={"provider_model": model})
    assert created.status_code == 201, created.text


async def test_no_secret_is_stored_in_plaintext_and_all_still_work(
    world: World, receiver: Receiver
) -> None:
    await _store_every_kind_of_secret(world, receiver)
    # The secrets still do their jobs, read back through the cipher.
    handshake = await world.api.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "7"},
    )
    assert (handshake.status_code, handshake.text) == (200, "7")
    await world.say("hello")  # signed by the fake with APP_SECRET, checked after decrypt
    bad = await world.post_webhook({"object": "whatsapp_business_account", "entry": []},
                                   secret="not-the-app-secret")  # fmt: skip
    assert bad.status_code in (401, 403)
    async with world.engine.db.read() as conn:
        row = await number_store.get_credentials_row(conn, NUMBER)
    assert row is not None
    assert (row["access_token"], row["app_secret"], row["verify_token"]) == (
        ACCESS_TOKEN,
        APP_SECRET,
        VERIFY_TOKEN,
    )

    dump = repr(await raw_tables(world.engine.db.url))
    leaked = [secret for secret in PLAINTEXTS if secret in dump]
    assert leaked == [], f"stored in plaintext: {leaked}"
    stored = await raw_secret_values(world.engine.db.url)
    fernet = process_key()
    opened = set()
    for column, values in stored.items():
        assert values, f"{column} holds no value: the test must cover it"
        for value in values:
            assert value.startswith("gAAAAA"), (column, value)  # a Fernet token
            opened.add(fernet.decrypt(value.encode()).decode())
    assert json.dumps({"Authorization": WEBHOOK_HEADER}) in opened  # the headers' JSON
    assert set(PLAINTEXTS) - {WEBHOOK_HEADER} <= opened
