"""A webhook node's headers are journaled sealed, and `convoflow secrets rotate`
re-encrypts them: a call still pending (its retry not due yet) under the old key is
retried, with its secret header, by a process that has only the new key."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet

from convoflow.clock import FakeClock
from convoflow.config import Settings
from convoflow.engine.advance import Advance
from convoflow.process import build_process
from convoflow.services.projects.accounts import set_secret
from convoflow.store.cipher import SecretCipher
from convoflow.store.schema import action_journal
from tests.engine.test_webhook import webhook_flow
from tests.store.test_secret_keys import rotate_to
from tests.support import Chat, make_project, table_rows


async def test_a_pending_webhook_call_keeps_its_secret_header_across_rotation(
    db_url: str, clock: FakeClock, settings: Settings, http_server, tmp_path: Path
) -> None:
    http_server.replies = [(503, "busy"), (200, {"done": True})]
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = build_process(db_url, clock=clock, settings=settings, cipher=SecretCipher([old]))
    try:
        project_id = await make_project(before, allow_private_network=True)

        async def secret(adv: Advance) -> None:
            await set_secret(adv.conn, before.clock, project_id, "API_KEY", "s3cret")

        await before.runtime.op(secret)
        flow = webhook_flow(http_server.url, headers={"Authorization": "Bearer ${ENV:API_KEY}"})
        chat = await Chat.open(before, flow, project_id=project_id)
        [journal] = await table_rows(before, action_journal)
    finally:
        await before.close()
    assert journal["status"] == "pending"  # the first attempt failed; the retry waits
    assert "s3cret" not in repr(journal)
    Fernet(old).decrypt(journal["request"]["headers_sealed"].encode())

    output = await rotate_to(db_url, tmp_path, new, old)
    # The project secret and the sealed headers.
    assert "re-encrypted 2 secret value(s)" in output, output

    after = build_process(db_url, clock=clock, settings=settings, cipher=SecretCipher([new]))
    try:
        clock.advance(60)
        await after.worker.drain()
        chat.engine = after
        execution = await chat.execution()
        assert execution["status"] == "ended", execution.get("error_details")
    finally:
        await after.close()
    assert [r.headers["authorization"] for r in http_server.requests] == ["Bearer s3cret"] * 2
