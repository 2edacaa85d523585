"""A throwaway PostgreSQL cluster that a test may stop, restart and crash.

Made with PostgreSQL's `initdb` and `pg_ctl` (Debian's, which `make test` installs) in a
fresh temporary directory, on a free port, with trust authentication; removed afterwards.
PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to
the `postgres` user (as in scripts/ensure-postgres.sh).
"""

from __future__ import annotations

import contextlib
import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

MISSING_BINARIES = (
    "this test runs its own PostgreSQL cluster and needs PostgreSQL's initdb and pg_ctl: "
    "none found in $CONVOFLOW_TEST_PG_BINDIR, /usr/lib/postgresql/*/bin (Debian) or on "
    "PATH. `make test` installs them (scripts/ensure-postgres.sh); by hand: "
    "`apt-get install postgresql`, or set CONVOFLOW_TEST_PG_BINDIR"
)


def postgres_bin() -> Path | None:
    """The bin directory holding `initdb` and `pg_ctl`: CONVOFLOW_TEST_PG_BINDIR if set,
    else the newest Debian install (/usr/lib/postgresql/<version>/bin, not on PATH),
    else wherever PATH has them (another distribution, Homebrew)."""
    explicit = os.environ.get("CONVOFLOW_TEST_PG_BINDIR")
    if explicit:
        return Path(explicit) if _complete(Path(explicit)) else None
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path and _complete(Path(on_path).parent):
        return Path(on_path).parent
    return None


def _complete(bindir: Path) -> bool:
    return all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl"))


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.parent.name)
    except ValueError:
        return 0.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def steady_port() -> int:
    """A free port below the kernel's ephemeral range, for a port something binds later
    (a child process, a cluster again after each crash): a port from that range
    (free_port) may meanwhile be taken as the local port of any outgoing connection on a
    busy machine, and the bind would fail."""
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()  # not the tests' seeded generators
    for _ in range(100):
        port = rng.randrange(min(20000, low - 1000), low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


class PgCluster:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="convoflow-pg-"))
        self.data = self.root / "data"
        self.port = steady_port()
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
        done = subprocess.run(command, capture_output=True, timeout=90, check=False)
        if done.returncode != 0:
            # CalledProcessError would hide pg_ctl's words and the server's log.
            raise RuntimeError(
                f"{' '.join(args[:1] + args[-1:])} failed ({done.returncode}): "
                f"{done.stderr.decode(errors='replace')}{done.stdout.decode(errors='replace')}"
                f"\nserver log (tail):\n{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        try:
            return "\n".join(Path(self.log).read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(none)"

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
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


async def admin(pg: PgCluster, statement: str) -> list[Any]:
    """The rows of `statement`, run as the cluster's superuser."""
    conn = await asyncpg.connect(pg.admin_url)
    try:
        return list(await conn.fetch(statement))
    finally:
        await conn.close()
