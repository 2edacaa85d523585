"""A crash replay of a webhook call whose url query and body hold a project secret (sealed
in the journal, engine/sealed.py): the worker, a real subprocess, is SIGKILLed while the
receiver holds its call open; the next worker repeats the call from the journal, with the
same Idempotency-Key and the real url and body, and the execution ends. The journal never
holds the secret in clear. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from convoflow.config import Settings
from convoflow.process import build_process
from convoflow.services.conversations import sandbox
from convoflow.store.schema import action_journal
from tests.durability.test_crash import WorkerProcess
from tests.engine.test_webhook import webhook_flow
from tests.support import make_project, make_workflow, put_secret, table_rows

SECRET = "crash-replay-s3cret-8086"


class HoldingReceiver:
    """Records every POST (path, body, Idempotency-Key); holds each one unanswered until
    `release()`, then answers 200 at once."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("Idempotency-Key")
                receiver.calls.append({"path": self.path, "body": json.loads(raw), "key": key})
                receiver.released.wait(timeout=60)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the caller was killed meanwhile

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def release(self) -> None:
        self.released.set()

    def __enter__(self) -> HoldingReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 60  # bounded: a lost call fails instead of hanging
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_sealed_call_repeated_after_a_crash_sends_the_real_values(db_url: str) -> None:
    engine = build_process(db_url, settings=Settings(worker_poll_seconds=0.05))
    worker = WorkerProcess(db_url)
    with HoldingReceiver() as receiver:
        try:
            project_id = await make_project(engine, allow_private_network=True)
            await put_secret(engine, project_id, "API_KEY", SECRET)
            flow = webhook_flow(
                receiver.url + "/hook?key=${ENV:API_KEY}&who={{vars.name}}",
                body_template={"token": "${ENV:API_KEY}", "name": "{{vars.name}}"},
            )
            workflow_id = await make_workflow(engine, project_id, flow)
            conversation_id = await sandbox.open_conversation(
                engine, project_id=project_id, workflow_id=workflow_id
            )
            # Journaled here; the call is the worker subprocess's job.
            await sandbox.start(engine, conversation_id, {"name": "Ana"})

            async def called() -> bool:
                return bool(receiver.calls)

            async def ended() -> bool:
                latest = await sandbox.latest_execution(engine, conversation_id)
                return latest is not None and latest["current"]["status"] == "ended"

            await worker.start()
            await _until(called, "the first call")
            await worker.kill()  # while the receiver holds the call: no result was journaled
            receiver.release()
            await worker.start()
            await _until(ended, "the execution to end after the replay")
            journal = await table_rows(engine, action_journal)
        finally:
            await worker.stop()
            await engine.close()
    assert worker.kills == 1 and len(receiver.calls) >= 2  # the call, and its replay
    expected = {
        "path": f"/hook?key={SECRET}&who=Ana",
        "body": {"token": SECRET, "name": "Ana"},
        "key": receiver.calls[0]["key"],
    }
    assert receiver.calls == [expected] * len(receiver.calls)
    [row] = journal
    assert row["status"] == "done" and row["request"]["url_sealed"]
    assert SECRET not in repr(journal)
