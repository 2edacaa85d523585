"""A webhook node's headers (and its url and body, which name a secret here) are journaled
sealed, and `convoflow secrets rotate` re-encrypts them: a call still pending (its retry
not due yet) under the old key is retried, with its secret header, url query and body, by
a process that has only the new key."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet

from convoflow.clock import FakeClock
from convoflow.config import Settings
from convoflow.process import build_process
from convoflow.store.cipher import SecretCipher
from convoflow.store.schema import action_journal
from tests.engine.test_webhook import webhook_flow
from tests.store.test_secret_keys import rotate_to
from tests.support import Chat, make_project, put_secret, table_rows


async def test_a_pending_webhook_call_keeps_its_secrets_across_rotation(
    db_url: str, clock: FakeClock, settings: Settings, http_server, tmp_path: Path
) -> None:
    http_server.replies = [(503, "busy"), (200, {"done": True})]
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = build_process(db_url, clock=clock, settings=settings, cipher=SecretCipher([old]))
    try:
        project_id = await make_project(before, allow_private_network=True)
        await put_secret(before, project_id, "API_KEY", "s3cret")
        flow = webhook_flow(
            http_server.url + "/hook?key=${ENV:API_KEY}",
            headers={"Authorization": "Bearer ${ENV:API_KEY}"},
            body_template={"token": "${ENV:API_KEY}"},
        )
        chat = await Chat.open(before, flow, project_id=project_id)
        [journal] = await table_rows(before, action_journal)
    finally:
        await before.close()
    assert journal["status"] == "pending"  # the first attempt failed; the retry waits
    assert "s3cret" not in repr(journal)
    for field in ("headers_sealed", "url_sealed", "body_sealed"):
        Fernet(old).decrypt(journal["request"][field].encode())

    output = await rotate_to(db_url, tmp_path, new, old)
    # The project secret and the sealed headers, url and body.
    assert "re-encrypted 4 secret value(s)" in output, output

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
    assert [r.path for r in http_server.requests] == ["/hook?key=s3cret"] * 2
    assert [r.json for r in http_server.requests] == [{"token": "s3cret"}] * 2
