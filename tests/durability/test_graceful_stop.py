"""`convoflow serve` stops cleanly on SIGTERM: it exits 0 and says so, after its worker
finished the job it held (committed), or, when that job outlasts
CONVOFLOW_WORKER_STOP_SECONDS, after cutting it short so that the next server retries it
(rolled back, the webhook called again under the same Idempotency-Key). Before, uvicorn
re-raised the SIGTERM once it had served and the default handler killed the process
there: `Process.close` never ran. A real server process, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from convoflow.process import Process, build_process
from convoflow.services.conversations import sandbox
from convoflow.store.schema import executions, outbox
from tests.support import chain, make_project, make_workflow, node, wait_healthy

WAIT = 120.0  # a bound for a hung server, not a measure: the conditions end each wait


class HeldHook:
    """A webhook receiver that holds every call until `release` is set."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.arrived = threading.Event()
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.calls[self.headers.get("Idempotency-Key", "")] += 1
                hook.arrived.set()
                hook.release.wait(WAIT)
                answer = json.dumps({"ok": True}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:  # the caller was cut short: what this test makes happen
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Server:
    """`convoflow serve` in a subprocess, its output in a file."""

    def __init__(self, db_url: str, log: Path, stop_seconds: float) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(
            os.environ,
            CONVOFLOW_WORKER_POLL_SECONDS="0.05",
            CONVOFLOW_JOB_LEASE_SECONDS="1",
            CONVOFLOW_ALLOW_PRIVATE_NETWORK="true",
            CONVOFLOW_WORKER_STOP_SECONDS=str(stop_seconds),
            CONVOFLOW_LOG_JSON="1",
        )
        command = [sys.executable, "-m", "convoflow", "serve", "--port", str(self.port)]
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*command, "--database-url", db_url], env=env, stdout=out, stderr=out
            )

    async def healthy(self) -> None:
        await wait_healthy(self.base, self.proc, self.log)

    async def closed_listener(self) -> None:
        for _ in range(int(WAIT * 20)):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return
            writer.close()
            await asyncio.sleep(0.05)
        raise AssertionError("the server kept listening")

    async def terminated(self) -> int:
        """SIGTERM; the exit code, once the listener is closed."""
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.proc.wait, WAIT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def hook_flow(url: str) -> dict[str, Any]:
    return chain(
        node("start", "start"),
        node("hook", "webhook", url=url, method="POST", body_template={"a": 1}),
        node("say", "send_text", message="after the hook"),
    )


async def started_conversation(engine: Process, hook: HeldHook) -> str:
    project_id = await make_project(engine, allow_private_network=True)
    workflow_id = await make_workflow(engine, project_id, hook_flow(hook.url))
    conversation_id = await sandbox.open_conversation(
        engine, project_id=project_id, workflow_id=workflow_id
    )
    await sandbox.say(engine, conversation_id, "hi")  # a job for the server's worker
    return conversation_id


async def outcome(engine: Process, conversation_id: str) -> tuple[str, int]:
    """The execution's status, and how many times the bot's message was queued (sent
    or not: the next server sends what a stopping one left)."""
    async with engine.db.read() as conn:
        status = (
            await conn.execute(
                sa.select(executions.c.status).where(
                    executions.c.conversation_id == conversation_id
                )
            )
        ).scalar_one()
        queued = await conn.execute(
            sa.select(outbox.c.message).where(outbox.c.conversation_id == conversation_id)
        )
        return status, sum("after the hook" in json.dumps(row.message) for row in queued)


async def ended(engine: Process, conversation_id: str) -> tuple[str, int]:
    for _ in range(int(WAIT * 10)):
        status, queued = await outcome(engine, conversation_id)
        if status != "running":
            return status, queued
        await asyncio.sleep(0.1)
    raise AssertionError("the execution did not end")


def stopped_cleanly(log: Path) -> bool:
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    return any(
        x.get("event") == "server stopped cleanly" and x.get("signal") == "SIGTERM" for x in lines
    )


async def test_sigterm_lets_the_job_in_flight_commit_and_exits_0(
    db_url: str, tmp_path: Path
) -> None:
    engine = build_process(db_url)
    hook = HeldHook()
    server = Server(db_url, tmp_path / "serve.log", stop_seconds=60)
    try:
        await server.healthy()
        conversation_id = await started_conversation(engine, hook)
        assert await asyncio.to_thread(hook.arrived.wait, WAIT)
        exiting = asyncio.create_task(server.terminated())
        await server.closed_listener()  # the server has begun to stop
        hook.release.set()  # the job in flight finishes during the shutdown
        assert await exiting == 0, server.log.read_text()
        assert stopped_cleanly(server.log), server.log.read_text()
        assert await outcome(engine, conversation_id) == ("ended", 1)
        assert list(hook.calls.values()) == [1]
    finally:
        server.kill()
        hook.close()
        await engine.close()


async def test_a_job_outlasting_the_stop_is_rolled_back_and_retried(
    db_url: str, tmp_path: Path
) -> None:
    engine = build_process(db_url)
    hook = HeldHook()
    log = tmp_path / "serve.log"
    server = Server(db_url, log, stop_seconds=0.5)
    try:
        await server.healthy()
        conversation_id = await started_conversation(engine, hook)
        assert await asyncio.to_thread(hook.arrived.wait, WAIT)
        assert await server.terminated() == 0, log.read_text()  # the hook still holds it
        assert stopped_cleanly(log), log.read_text()
        assert await outcome(engine, conversation_id) == ("running", 0)  # rolled back
        hook.release.set()
        server = Server(db_url, log, stop_seconds=60)
        await server.healthy()
        assert await ended(engine, conversation_id) == ("ended", 1)
        assert list(hook.calls.values()) == [2]  # called again, under the same key
    finally:
        server.kill()
        hook.close()
        await engine.close()
