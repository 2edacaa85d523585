"""The secret key: rotation with `convoflow secrets rotate`, the SQLite key file made by
`convoflow migrate`, the start-up error on PostgreSQL without CONVOFLOW_SECRET_KEY, and the
migration that encrypts the plaintext secrets of databases made before encryption."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

import convoflow
from convoflow.config import Settings
from convoflow.engine.advance import Advance
from convoflow.ids import new_id
from convoflow.process import build_process
from convoflow.services.projects.accounts import create_project, set_secret
from convoflow.store import phone_numbers as number_store
from convoflow.store import projects as project_store
from convoflow.store import webhooks as webhook_store
from convoflow.store.cipher import SecretCipher, SecretKeyError
from convoflow.store.db import Database
from convoflow.store.migrate import downgrade, upgrade
from tests.whatsapp_e2e.test_secrets_at_rest import raw_secret_values

TOKEN = "EAAG-rotation-token"
PROJECT_SECRET = "rotation-project-secret"
HEADERS = {"Authorization": "Bearer rotation-webhook-header"}


def convoflow_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command in a child process, without the suite's CONVOFLOW_SECRET_KEY."""
    child_env = {k: v for k, v in os.environ.items() if k != "CONVOFLOW_SECRET_KEY"}
    child_env["PYTHONPATH"] = str(Path(convoflow.__file__).resolve().parents[1])
    child_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "convoflow", *args],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def rotate_to(db_url: str, cwd: Path, new: str, old: str) -> str:
    """`convoflow secrets rotate` with `new,old`, as an operator runs it; its output."""
    done = await asyncio.to_thread(
        convoflow_cli, "secrets", "rotate", "--database-url", db_url,
        cwd=cwd, CONVOFLOW_SECRET_KEY=f"{new},{old}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _store_secrets(url: str, cipher: SecretCipher) -> None:
    engine = build_process(url, cipher=cipher, pool_size=1)

    async def write(adv: Advance) -> None:
        project_id = await create_project(adv.conn, engine.clock, f"p-{new_id()}")
        await set_secret(adv.conn, engine.clock, project_id, "CRM", PROJECT_SECRET)
        await number_store.insert_phone_number(
            adv.conn,
            {"id": new_id(), "project_id": project_id, "phone_number_id": "1500",
             "access_token": TOKEN, "app_secret": None, "verify_token": None,
             "inbound_processing_enabled": True, "created_at": adv.now, "updated_at": adv.now},
        )  # fmt: skip
        await webhook_store.insert_webhook(
            adv.conn,
            # One webhook per project, with the project's id: _read_secrets finds it so.
            {"id": project_id, "project_id": project_id, "url": "http://127.0.0.1:9/h",
             "events": ["workflow.execution.failed"], "headers": HEADERS, "settings": {},
             "created_at": adv.now, "updated_at": adv.now},
        )  # fmt: skip

    try:
        await engine.runtime.op(write)
    finally:
        await engine.close()


async def _read_secrets(
    url: str, cipher: SecretCipher
) -> tuple[str, dict[str, str], dict[str, str] | None]:
    """The number's token, the project's secrets, its webhook's headers (None: no webhook)."""
    engine = build_process(url, cipher=cipher, pool_size=1)
    try:
        async with engine.db.read() as conn:
            number = await number_store.get_credentials_row(conn, "1500")
            assert number is not None
            project_id = str(number["project_id"])
            secrets = await project_store.get_project_secrets(conn, project_id)
            webhook = await webhook_store.get_webhook(conn, project_id, project_id)
            headers = None if webhook is None else dict(webhook["headers"])
            return str(number["access_token"]), secrets, headers
    finally:
        await engine.close()


async def test_rotate_reencrypts_under_the_new_key_and_the_old_one_can_go(
    db_url: str, tmp_path: Path
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    await _store_secrets(db_url, SecretCipher([old]))

    done = await asyncio.to_thread(
        convoflow_cli, "secrets", "rotate", "--database-url", db_url,
        cwd=tmp_path, CONVOFLOW_SECRET_KEY=f"{new},{old}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 3 secret value(s)" in done.stdout  # token, secret, webhook headers

    for values in (await raw_secret_values(db_url)).values():
        for value in values:
            Fernet(new).decrypt(value.encode())  # readable with the new key alone
            with pytest.raises(InvalidToken):
                Fernet(old).decrypt(value.encode())
    expected = (TOKEN, {"CRM": PROJECT_SECRET}, HEADERS)
    assert await _read_secrets(db_url, SecretCipher([new])) == expected
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        await _read_secrets(db_url, SecretCipher([old]))

    again = await asyncio.to_thread(
        convoflow_cli, "secrets", "rotate", "--database-url", db_url,
        cwd=tmp_path, CONVOFLOW_SECRET_KEY=new,
    )  # fmt: skip
    assert "re-encrypted 0 secret value(s)" in again.stdout, again.stderr


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker"], ["migrate"]])
def test_postgresql_without_a_key_is_a_clear_startup_error(
    tmp_path: Path, command: list[str]
) -> None:
    # The key is checked before any connection: no server needs to exist at this URL.
    url = "postgresql://postgres@127.0.0.1:1/never_reached"
    done = convoflow_cli(*command, "--database-url", url, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "CONVOFLOW_SECRET_KEY is required with PostgreSQL" in done.stderr
    assert "Traceback" not in done.stderr


def test_sqlite_migrate_creates_a_private_key_file_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    key_file = tmp_path / "app.db.key"
    refused = convoflow_cli("worker", "--database-url", url, cwd=tmp_path)
    assert refused.returncode == 2 and "run `convoflow migrate`" in refused.stderr

    first = convoflow_cli("migrate", "--database-url", url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"created the secret key file {key_file} (mode 0600)" in first.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    Fernet(key)  # a valid key

    second = convoflow_cli("migrate", "--database-url", url, cwd=tmp_path)
    assert second.returncode == 0 and "created" not in second.stderr
    assert key_file.read_text().strip() == key

    async def write_and_read() -> None:
        # No CONVOFLOW_SECRET_KEY: the process finds the key file.
        engine = build_process(url, settings=Settings(secret_key=None), pool_size=1)
        try:

            async def write(adv: Advance) -> None:
                project_id = await create_project(adv.conn, engine.clock, "p")
                await set_secret(adv.conn, engine.clock, project_id, "CRM", PROJECT_SECRET)

            await engine.runtime.op(write)
        finally:
            await engine.close()

    asyncio.run(write_and_read())
    (stored,) = asyncio.run(raw_secret_values(url))[("secrets", "value")]
    assert Fernet(key).decrypt(stored.encode()).decode() == PROJECT_SECRET


async def test_migration_encrypts_the_plaintext_of_an_older_database(db_url: str) -> None:
    await asyncio.to_thread(downgrade, db_url, "0001")
    db = Database(db_url, pool_size=1)
    try:
        async with db.write() as conn:
            # Literal timestamps: the raw drivers take them on both databases.
            await conn.execute(
                sa.text(
                    "INSERT INTO projects (id, name, settings, created_at, updated_at) "
                    "VALUES ('p1', 'old', '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO phone_numbers (id, project_id, phone_number_id, access_token, "
                    "inbound_processing_enabled, created_at, updated_at) VALUES ('n1', 'p1', "
                    "'1500', :token, true, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                ),
                {"token": TOKEN},
            )
    finally:
        await db.dispose()

    await asyncio.to_thread(upgrade, db_url)
    (stored,) = (await raw_secret_values(db_url))[("phone_numbers", "access_token")]
    assert stored != TOKEN and stored.startswith("gAAAAA")
    key = os.environ["CONVOFLOW_SECRET_KEY"]
    assert (await _read_secrets(db_url, SecretCipher([key])))[0] == TOKEN

    await asyncio.to_thread(downgrade, db_url, "0001")
    (plain,) = (await raw_secret_values(db_url))[("phone_numbers", "access_token")]
    assert plain == TOKEN


def test_rotation_covers_every_encrypted_column() -> None:
    """A new EncryptedText column must be listed for rotation (and migration 0002's
    successors), or `secrets rotate` would leave it under a key about to be dropped."""
    from convoflow.store.schema import metadata
    from convoflow.store.secret_columns import SECRET_COLUMNS
    from convoflow.store.types import EncryptedJSON, EncryptedText

    encrypted = {
        (table.name, column.name)
        for table in metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, (EncryptedText, EncryptedJSON))
    }
    assert encrypted == set(SECRET_COLUMNS)
