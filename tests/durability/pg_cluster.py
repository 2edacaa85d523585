"""A throwaway PostgreSQL cluster that a test may stop, restart and crash.

Made with Debian's `initdb` and `pg_ctl` in a fresh temporary directory, on a free port,
with trust authentication; removed afterwards. PostgreSQL refuses to run as root, so when
the tests run as root the cluster belongs to the `postgres` user (as in
scripts/ensure-postgres.sh).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian layout), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.parent.name)
    except ValueError:
        return 0.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="convoflow-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
        # -N: initdb's own files need no fsync (they are thrown away with the test).
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")
        self.start_again()

    @property
    def log(self) -> str:
        return str(self.root / "server.log")

    def restart(self, mode: str) -> None:
        """`fast`: sessions are terminated, transactions rolled back, a clean shutdown;
        `immediate`: every process killed at once, crash recovery on start."""
        # -l: else the server inherits pg_ctl's output pipe and the call never returns.
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-l", self.log, "-w", "restart")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def start_again(self) -> None:
        # fsync stays on: a crash (-m immediate) must keep every committed transaction.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", self.log, "-w", "start")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
