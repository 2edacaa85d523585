"""`convoflow serve` as a subprocess on a throwaway cluster (pg_cluster.py), for the
database-fault tests: the settings they need, its log in a file, started once healthy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.durability.pg_cluster import steady_port
from tests.support import wait_healthy


class Server:
    """`convoflow serve` (API and worker in one process) as a subprocess."""

    def __init__(self, database_url: str, graph_url: str, log: Path) -> None:
        self.port = steady_port()  # bound later, by the child
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            CONVOFLOW_DATABASE_URL=database_url,
            CONVOFLOW_GRAPH_BASE_URL=f"{graph_url}/v23.0",
            CONVOFLOW_GRAPH_CONVERSATION_INTERVAL_SECONDS="0",
            CONVOFLOW_JOB_LEASE_SECONDS="3",
            # Longer than the crash recovery takes on a loaded machine: a send accepted
            # before the crash is recorded when the database is back, not sent again.
            CONVOFLOW_OUTBOX_LEASE_SECONDS="30",
            # No status webhooks in this test (the fake sends none): holding an attempt
            # for one would only delay the resend the test waits for.
            CONVOFLOW_SEND_RECONCILE_SECONDS="1",
            CONVOFLOW_ALLOW_PRIVATE_NETWORK="true",
            CONVOFLOW_LOG_LEVEL="WARNING",
        )
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "convoflow", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        self.spawn()
        assert self.proc is not None
        await wait_healthy(self.url, self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
