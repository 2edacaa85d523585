"""End-to-end WhatsApp benchmark (not a test): N simulated users write through the real
webhook endpoint; a flow answers each message through the fake Graph API.

Processes: the fake Graph (`convoflow fake-meta`), the server (bench/e2e_server.py; one
on SQLite, `--processes 2` on PostgreSQL, each with its API and worker) and the load
generator (this file, `load` mode), so the load does not share the server's event loop.

Measured: inbound msgs/s end to end (first webhook sent -> last reply recorded at the
fake Graph), webhook ack latency p50/p99 (HTTP round trip seen by the load generator),
commits per message (the servers' group-commit counters) and, with `--raw`, the same
load against the bare durable webhook transaction (verify + store the body + commit).

    python bench/e2e.py --backend sqlite --users 2000 --messages 3
    python bench/e2e.py --backend postgresql --processes 2 --users 2000 --messages 3
    python bench/e2e.py --backend sqlite --raw --users 2000 --messages 3

The flow is `start -> send_text(echo) -> wait -> echo ...` with debounce 0 and read
receipts off (`--read-mode read_with_typing` adds one Graph call per message). Meta's
default 80 msg/s per number is lifted (a 1,000/s tier exists); statuses are off unless
`--statuses sent,delivered,read` (each adds a webhook per message).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from common import create_pg_database, drop_pg_database, percentile  # noqa: E402
from convoflow.channels.whatsapp import webhook_bodies as bodies  # noqa: E402

NUMBER = "100000000000001"
SECRET = "bench-secret"
PY = sys.executable


# --- load generator (its own process) ----------------------------------------------------


async def _connection(port: int, requests: asyncio.Queue[bytes], latencies: list[float]) -> None:
    """One keep-alive HTTP/1.1 connection sending pre-built requests (a minimal client:
    httpx would cost the load generator more CPU than the server spends)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            try:
                request = requests.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if b" 200 " not in status:
                raise RuntimeError(f"webhook answered {status!r}")
    finally:
        writer.close()


def _request(port: int, user: str, index: int) -> bytes:
    payload = bodies.inbound_message_body(
        {"type": "text", "text": {"body": f"message {index}"}}, phone_number_id=NUMBER,
        wa_id=user, wamid=f"wamid.BENCH.{user}.{index}", timestamp=int(time.time()), name=user,
    )  # fmt: skip
    raw, headers = bodies.signed(payload, SECRET)
    head = (
        f"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
        f"X-Hub-Signature-256: {headers['X-Hub-Signature-256']}\r\n\r\n"
    )
    return head.encode() + raw


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    users = [f"1{args.user_base + n:010d}" for n in range(args.users)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for index in range(args.messages):  # round-robin: a user's messages are N apart
        for user in users:
            queue.put_nowait(_request(args.port, user, index))
    total = queue.qsize()
    latencies: list[float] = []
    started = time.time()
    await asyncio.gather(
        *(_connection(args.port, queue, latencies) for _ in range(args.concurrency))
    )
    elapsed = time.time() - started
    return {
        "webhooks": total,
        "started_at": started,
        "seconds": elapsed,
        "acks_per_second": total / elapsed,
        "ack_p50_ms": percentile(latencies, 0.50) * 1000,
        "ack_p99_ms": percentile(latencies, 0.99) * 1000,
        "ack_max_ms": max(latencies) * 1000,
        "cpu_seconds": time.process_time(),
    }


# --- orchestration ---------------------------------------------------------------------


async def _setup(url: str, read_mode: str) -> None:
    from convoflow.engine.advance import Advance
    from convoflow.process import build_process
    from convoflow.services.common import Actor
    from convoflow.services.projects.accounts import create_project
    from convoflow.services.whatsapp import phone_numbers
    from convoflow.services.workflows.versions import create_workflow
    from convoflow.store.migrate import upgrade
    from convoflow.store.schema import triggers, workflows

    await asyncio.to_thread(upgrade, url)
    engine = build_process(url, pool_size=2)
    nodes = [
        {"id": "start", "data": {"node_type": "start", "config": {}}},
        {"id": "echo", "data": {"node_type": "send_text",
                                "config": {"message": "got: {{vars.last_user_input}}"}}},
        {"id": "wait", "data": {"node_type": "wait_for_response", "config": {}}},
    ]  # fmt: skip
    edges = [{"source": a, "target": b, "label": "next"}
             for a, b in (("start", "echo"), ("echo", "wait"), ("wait", "echo"))]  # fmt: skip

    async def create(adv: Advance) -> str:
        project_id = await create_project(adv.conn, engine.clock, "bench")
        workflow_id = await create_workflow(
            adv.conn, engine.clock, project_id=project_id, name="echo",
            definition={"nodes": nodes, "edges": edges}, status="active",
        )  # fmt: skip
        await adv.conn.execute(
            workflows.update().where(workflows.c.id == workflow_id).values(
                message_debounce_seconds=0, inbound_message_read_mode=read_mode)
        )  # fmt: skip
        await adv.conn.execute(
            triggers.insert().values(
                id=str(uuid.uuid4()), project_id=project_id, workflow_id=workflow_id,
                trigger_type="inbound_message", active=True, phone_number_id=NUMBER,
                created_at=adv.now, updated_at=adv.now)
        )  # fmt: skip
        return project_id

    try:
        project_id = await engine.runtime.op(create)
        spec = phone_numbers.NumberSpec(NUMBER, "bench-token", SECRET, "bench-verify")
        await phone_numbers.add_number(engine, Actor(project_id=project_id), spec, verify=False)
    finally:
        await engine.close()


def _database(backend: str, tmp: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    return create_pg_database(f"cf_bench_{uuid.uuid4().hex[:8]}")


def _wait_http(url: str, seconds: float = 30) -> None:
    import httpx

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _sent_at_fake(fake_port: int) -> int:
    import httpx

    return int(
        httpx.get(f"http://127.0.0.1:{fake_port}/_fake/health", timeout=5).json()["data"]["sent"]
    )


def _until_sent(fake_port: int, expected: int, timeout: float) -> tuple[int, float]:
    """Poll the fake Graph until `expected` sends are recorded (or no progress for
    `timeout` seconds); returns (count, time the count last grew)."""
    count, grew_at = _sent_at_fake(fake_port), time.time()
    while count < expected and time.time() - grew_at < timeout:
        time.sleep(0.05)
        now = _sent_at_fake(fake_port)
        if now != count:
            count, grew_at = now, time.time()
    return count, grew_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", default="run", choices=("run", "load"))
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=3, help="messages per user")
    parser.add_argument("--concurrency", type=int, default=64, help="open connections")
    parser.add_argument("--port", type=int, default=18000)
    parser.add_argument("--user-base", type=int, default=5550000000)
    parser.add_argument("--read-mode", default="disabled")
    parser.add_argument("--statuses", default="")
    parser.add_argument("--raw", action="store_true", help="bare durable webhook transaction")
    args = parser.parse_args()
    if args.mode == "load":
        print(json.dumps(asyncio.run(run_load(args))))
        return
    print(json.dumps(orchestrate(args), indent=2))


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    fake_port, stats_ports = args.port + 88, [args.port + 100 + i for i in range(args.processes)]
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = _database(args.backend, Path(tmp))
        asyncio.run(_setup(url, args.read_mode))
        try:
            procs.append(subprocess.Popen(
                [PY, "-m", "convoflow", "fake-meta", "--port", str(fake_port),
                 "--webhook-url", f"http://127.0.0.1:{args.port}/webhooks/whatsapp",
                 "--app-secret", SECRET, "--statuses", args.statuses, "--status-delay", "0"],
                stdout=subprocess.DEVNULL))  # fmt: skip
            for stats_port in stats_ports:
                procs.append(subprocess.Popen(
                    [PY, str(ROOT / "bench/e2e_server.py"), "--database-url", url,
                     "--port", str(args.port), "--stats-port", str(stats_port),
                     "--graph-url", f"http://127.0.0.1:{fake_port}/v23.0", "--app-secret", SECRET,
                     *(["--raw"] if args.raw else [])]))  # fmt: skip
            _wait_http(f"http://127.0.0.1:{fake_port}/_fake/health")
            for stats_port in stats_ports:
                _wait_http(f"http://127.0.0.1:{stats_port}/_bench/stats")
            return _measure(args, fake_port, stats_ports, procs[0].pid)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
            if args.backend == "postgresql":
                drop_pg_database(url.rsplit("/", 1)[1])


def _stats(ports: list[int]) -> dict[str, float]:
    import httpx

    total: dict[str, float] = {}
    for port in ports:
        for key, value in httpx.get(f"http://127.0.0.1:{port}/_bench/stats").json().items():
            total[key] = total.get(key, 0) + float(value)
    return total


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of another process, from Linux /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    args: argparse.Namespace, fake_port: int, stats_ports: list[int], fake_pid: int
) -> dict[str, Any]:
    before, fake_before = _stats(stats_ports), _process_cpu(fake_pid)
    load_cmd = [PY, __file__, "load", "--port", str(args.port), "--users", str(args.users),
                "--messages", str(args.messages), "--concurrency", str(args.concurrency),
                "--user-base", str(args.user_base)]  # fmt: skip
    load = json.loads(subprocess.run(load_cmd, check=True, stdout=subprocess.PIPE).stdout)
    expected = args.users * args.messages
    sent, last = (0, time.time()) if args.raw else _until_sent(fake_port, expected, 20.0)
    after, fake_after = _stats(stats_ports), _process_cpu(fake_pid)
    end_to_end = (last - load["started_at"]) if not args.raw else load["seconds"]
    messages = load["webhooks"]
    return {
        "command": " ".join(["python", "bench/e2e.py", *sys.argv[1:]]),
        "backend": args.backend,
        "processes": args.processes,
        "mode": "raw durable webhook transaction" if args.raw else "full path",
        "users": args.users,
        "messages": messages,
        "replies_recorded_at_fake_graph": sent,
        "inbound_msgs_per_second_end_to_end": round(
            (sent if not args.raw else messages) / end_to_end, 1
        ),
        "webhook_acks_per_second": round(load["acks_per_second"], 1),
        "ack_p50_ms": round(load["ack_p50_ms"], 2),
        "ack_p99_ms": round(load["ack_p99_ms"], 2),
        "ack_max_ms": round(load["ack_max_ms"], 2),
        "commits_per_message": round((after["commits"] - before["commits"]) / messages, 3),
        "operations_per_message": round((after["operations"] - before["operations"]) / messages, 3),
        "sql_statements_per_message": round(
            (after["statements"] - before["statements"]) / messages, 1
        ),
        "server_cpu_ms_per_message": round(
            (after.get("cpu_seconds", 0) - before.get("cpu_seconds", 0)) * 1000 / messages, 3
        ),
        # Where the CPU goes per message (a budget: the machine has cpu_count cores for all
        # of it): the server's threads, the fake Graph, the load generator.
        "server_cpu_ms_per_message_by_thread": {
            role: round((after.get(key, 0) - before.get(key, 0)) * 1000 / messages, 3)
            for role in ("loop", "writer", "other")
            for key in [f"cpu_seconds_{role}"]
        },
        "fake_graph_cpu_ms_per_message": round((fake_after - fake_before) * 1000 / messages, 3),
        "load_generator_cpu_ms_per_message": round(load["cpu_seconds"] * 1000 / messages, 3),
        "read_mode": args.read_mode,
        "statuses": args.statuses or "off",
        "cpu_count": os.cpu_count(),
    }


if __name__ == "__main__":
    main()
