"""Server process of bench/e2e.py (not a test): the real app (API + worker) on a shared
port (SO_REUSEPORT, so several processes split the connections), plus a per-process
stats port. `--raw` serves instead the bare durable webhook transaction: signature check
and one group-committed insert of the raw body, the ceiling the full path is compared to.

    python bench/e2e_server.py --database-url URL --port 8000 --stats-port 8100 \
        --graph-url http://127.0.0.1:8088/v23.0 [--raw]

CONVOFLOW_BENCH_PROFILE=/tmp/e2e.prof profiles the server with cProfile and writes
/tmp/e2e.prof.<pid> at each stats read (the last follows the measured load; read it
with `python -m pstats`); on SQLite the writer thread's profile goes to
/tmp/e2e.prof.<pid>.writer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import sqlalchemy as sa  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, Request, Response  # noqa: E402
from sqlalchemy import event as sa_event  # noqa: E402

from convoflow.api.app import create_app  # noqa: E402
from convoflow.channels.whatsapp.signature import (  # noqa: E402
    SIGNATURE_HEADER,
    SignatureCheck,
    check_signature,
)
from convoflow.config import Settings  # noqa: E402
from convoflow.engine.advance import Advance  # noqa: E402
from convoflow.ids import new_id  # noqa: E402
from convoflow.observability.logs import configure_logging  # noqa: E402
from convoflow.process import Process, build_process  # noqa: E402
from convoflow.store import whatsapp as wa_store  # noqa: E402


def _socket(port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def raw_app(engine: Process, app_secret: str) -> FastAPI:
    """The ceiling: what every webhook must do at least (verify, store durably, answer)."""
    app = FastAPI()

    @app.post("/webhooks/whatsapp")
    async def receive(request: Request) -> Response:
        raw = await request.body()
        if check_signature(raw, request.headers.get(SIGNATURE_HEADER), app_secret) is not (
            SignatureCheck.VALID
        ):
            return Response(status_code=403)

        async def store(adv: Advance) -> None:
            await wa_store.insert_receipt(
                adv.conn,
                {"id": new_id(), "phone_number_id": None, "body": raw, "messages_count": 1,
                 "statuses_count": 0, "received_at": adv.now},
            )  # fmt: skip

        await engine.runtime.op(store)
        return Response(b'{"data":{"received":true}}', media_type="application/json")

    return app


def add_stats(app: FastAPI, engine: Process) -> None:
    # Every SQL statement sent by any engine of this process (writes, and reads on their
    # own connections); an executemany counts once.
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    sa_event.listen(sa.engine.Engine, "before_cursor_execute", count)
    profile_to = os.environ.get("CONVOFLOW_BENCH_PROFILE")  # where this process's time goes
    profiler = writer_profiler = None
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        if engine.db.backend.name == "sqlite":
            writer_profiler = cProfile.Profile()  # the SQLite writer thread's own

    async def profile_writer(_conn: Any) -> None:
        # Run by the writer thread (run_write), where cProfile must be switched on.
        assert writer_profiler is not None
        writer_profiler.dump_stats(f"{profile_to}.{os.getpid()}.writer")
        writer_profiler.enable()

    @app.get("/_bench/stats")
    async def stats() -> dict[str, Any]:
        if profiler is not None:
            # Profiled from the first stats read on; written at every read (the last one
            # follows the measured load).
            profiler.dump_stats(f"{profile_to}.{os.getpid()}")  # (this stops it)
            profiler.enable()
        if writer_profiler is not None:
            await engine.db.run_write(profile_writer)
        committer = engine.runtime.committer.stats
        return {
            "statements": statements[0],
            "commits": committer.commits,
            "operations": committer.operations,
            "retried_alone": committer.retried_alone,
            "sent": engine.dispatcher.sent,
            "jobs_done": engine.worker.jobs_done,
            # CPU seconds of this process: per message, robust to a busy machine (wall
            # time is not).
            "cpu_seconds": time.process_time(),
            **{f"cpu_seconds_{name}": seconds for name, seconds in thread_cpu().items()},
        }


def thread_cpu() -> dict[str, float]:
    """CPU seconds per thread of this process (Linux /proc), by role: the event loop (the
    main thread), the SQLite writer, everything else (executor threads, ...)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    main = threading.main_thread().native_id
    tick = os.sysconf("SC_CLK_TCK")
    found = {"loop": 0.0, "writer": 0.0, "other": 0.0}
    for task in Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        tid = int(task.name)
        role = "loop" if tid == main else "writer" if names.get(tid) == "sqlite-writer" else "other"
        found[role] += seconds
    return found


async def main(args: argparse.Namespace) -> None:
    settings = Settings(
        database_url=args.database_url,
        graph_base_url=args.graph_url,
        # Meta raises a number's throughput to 1,000 msg/s on request; the bench must
        # measure convoflow, not the default 80/s tier.
        graph_rate_per_second=100_000.0,
        worker_poll_seconds=0.2,
        log_level="WARNING",
    )
    engine = build_process(args.database_url, settings=settings, pool_size=args.pool_size)
    app = raw_app(engine, args.app_secret) if args.raw else create_app(engine, run_worker=True)
    add_stats(app, engine)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", backlog=2048,
        timeout_keep_alive=60,
    )  # fmt: skip
    server = uvicorn.Server(config)
    sockets = [_socket(args.port, True), _socket(args.stats_port, False)]
    try:
        await server.serve(sockets=sockets)
    finally:
        await engine.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stats-port", type=int, required=True)
    parser.add_argument("--graph-url", default="http://127.0.0.1:8088/v23.0")
    parser.add_argument("--app-secret", default="bench-secret")
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--raw", action="store_true")
    if os.environ.get("CONVOFLOW_SWITCH_INTERVAL"):
        sys.setswitchinterval(float(os.environ["CONVOFLOW_SWITCH_INTERVAL"]))
    # The process's real logging (redaction included); CONVOFLOW_LOG_LEVEL=INFO measures
    # the per-message log lines too (send the server's stderr to a file then).
    configure_logging(level=os.environ.get("CONVOFLOW_LOG_LEVEL", "WARNING"), json_lines=True)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(parser.parse_args()))
