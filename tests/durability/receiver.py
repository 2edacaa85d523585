"""A tiny HTTP receiver for webhook nodes in tests: records every call by its
Idempotency-Key and answers the same body for a repeated key (as a well-behaved
idempotent API would)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) overflows when a worker fires a batch of webhook
    # calls at once on a loaded machine: the kernel drops connections and the calls fail
    # with ReadError after their retries, which is not what the crash test measures.
    request_queue_size = 1024
    daemon_threads = True


class Receiver:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.bodies: dict[str, Any] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:
                    # The caller died mid-request (the crash test kills it at random):
                    # an incomplete request is not a call, as for any real server.
                    return
                body = json.loads(raw or b"null")
                key = self.headers.get("Idempotency-Key", "")
                with receiver._lock:
                    receiver.calls[key] += 1
                    receiver.bodies.setdefault(key, body)
                    first = receiver.bodies[key]
                answer = json.dumps({"echo": first, "key": key}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
