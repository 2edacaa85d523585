"""Engine-test fixtures: a real HTTP server on 127.0.0.1 for webhook and function nodes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


# (status, body) or (status, body, headers): a dict/list body is sent as JSON, str as text
Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]


@dataclass
class HttpServer:
    """Records every request; answers from `replies` in order (the last one repeats), or
    from `handler(request)` when set."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=lambda: [(200, {"ok": True})])
    handler: Callable[[Received], Reply] | None = None

    def answer(self, request: Received) -> Reply:
        self.requests.append(request)
        if self.handler is not None:
            return self.handler(request)
        index = min(len(self.requests), len(self.replies)) - 1
        return self.replies[index]


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    state = HttpServer()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Received(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            status, reply, *extra = state.answer(request)
            if isinstance(reply, str):
                data, content_type = reply.encode(), "text/plain"
            else:
                data, content_type = json.dumps(reply).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra[0] if extra else {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
