"""A lean HTTP/1.1 keep-alive client for a provider API we call on every message (the
Graph API): requests over a pool of persistent connections, one request at a time per
connection, the response read by a small incremental parser.

Why not httpx here: per request httpx and httpcore build request/response models, scan
their pool, `poll()` every idle socket, and go through anyio's stream wrappers; in the
`bench/e2e.py` profile that was two thirds of the server's CPU per inbound message
(BENCHMARKS.md). A Graph send needs none of it: one origin, small JSON bodies, keep-alive.
Outbound calls to URLs a tenant gave still go through `engine/egress.py` (SSRF guard,
redirect refusal, any server's HTTP).

On purpose it does not: follow redirects, keep cookies, decompress, use proxies or HTTP/2,
or retry. A request is sent at most once: when its connection dies before the answer the
caller gets an `HttpError` and decides (the dispatcher's at-least-once policy). An idle
connection the server closed is noticed by the event loop (`connection_lost`) and never
reused; idle connections are dropped after `idle_expiry` seconds (httpx's default, 5 s),
before servers usually time them out, so a request rarely meets a connection closing
under it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # a Graph answer is a few hundred bytes
MAX_HEADER_BYTES = 64 * 1024


class HttpError(Exception):
    """No usable answer: could not connect, the connection died, timed out, or the
    response was not HTTP/1.1 we understand. The message never holds header values."""


class HttpTimeout(HttpError):
    pass


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # names in lower case; a repeated header keeps its last value
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


Origin = tuple[str, str, int]  # scheme, host, port


class _ResponseReader:
    """Incremental parser of one response: `feed` returns the response once complete."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.status = 0
        self.headers: dict[str, str] = {}
        self.keep_alive = True
        self._body_at = -1  # offset of the body in `buffer` once the head is read
        self._length: int | None = None  # Content-Length; None: chunked or until close
        self._chunked = False

    def feed(self, data: bytes) -> HttpResponse | None:
        self.buffer += data
        if len(self.buffer) > MAX_RESPONSE_BYTES:
            raise HttpError("the response is larger than the client accepts")
        if self._body_at < 0 and not self._read_head():
            return None
        if self._chunked:
            body = self._dechunk()
            return None if body is None else self._response(body)
        if self._length is not None and len(self.buffer) - self._body_at >= self._length:
            end = self._body_at + self._length
            if len(self.buffer) > end:
                raise HttpError("the server sent more than one response")
            return self._response(bytes(self.buffer[self._body_at : end]))
        return None

    def at_eof(self) -> HttpResponse | None:
        """The server closed the connection: the end of a body without a length."""
        if self._body_at >= 0 and self._length is None and not self._chunked:
            self.keep_alive = False
            return self._response(bytes(self.buffer[self._body_at :]))
        return None

    def _read_head(self) -> bool:
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    raise HttpError("the response head is too large")
                return False
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            code = rest[:3]
            if not version.startswith("HTTP/1.") or not code.isdigit():
                raise HttpError("the server did not answer with HTTP/1.x")
            self.status = int(code)
            if 100 <= self.status < 200:  # an interim answer: the real one follows
                del self.buffer[: end + 4]
                continue
            break
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise HttpError("the server sent a malformed header line")
            headers[name.strip().lower()] = value.strip()
        self.headers = headers
        connection = headers.get("connection", "").lower()
        self.keep_alive = "close" not in connection and (
            version == "HTTP/1.1" or "keep-alive" in connection
        )
        self._body_at = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = True
        elif self.status in (204, 304):
            self._length = 0
        elif "content-length" in headers:
            try:
                self._length = int(headers["content-length"])
            except ValueError:
                raise HttpError("the server sent a malformed Content-Length") from None
        else:
            self.keep_alive = False  # the body ends when the server closes
        return True

    def _dechunk(self) -> bytes | None:
        """The whole body once every chunk (and the trailer) arrived, else None. Responses
        are small, so this re-reads the chunk sizes on each call rather than keep state."""
        at, parts = self._body_at, list[bytes]()
        buffer = self.buffer
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                return None
            try:
                size = int(bytes(buffer[at:line_end]).split(b";", 1)[0], 16)
            except ValueError:
                raise HttpError("the server sent a malformed chunk size") from None
            at = line_end + 2
            if size == 0:
                trailer_end = buffer.find(b"\r\n", at)
                while trailer_end > at:  # skip trailer fields up to the empty line
                    at = trailer_end + 2
                    trailer_end = buffer.find(b"\r\n", at)
                if trailer_end < 0:
                    return None
                if len(buffer) > trailer_end + 2:
                    raise HttpError("the server sent more than one response")
                return b"".join(parts)
            if len(buffer) < at + size + 2:
                return None
            parts.append(bytes(buffer[at : at + size]))
            at += size + 2

    def _response(self, body: bytes) -> HttpResponse:
        return HttpResponse(self.status, self.headers, body)


class _Connection(asyncio.Protocol):
    """One persistent connection; at most one request in flight on it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._reader: _ResponseReader | None = None
        self._waiter: asyncio.Future[HttpResponse] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, request: bytes) -> asyncio.Future[HttpResponse]:
        assert self.transport is not None and self._waiter is None
        self._reader = _ResponseReader()
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    @property
    def reusable(self) -> bool:
        return (
            not self.closed
            and self._waiter is None
            and self._reader is not None
            and self._reader.keep_alive
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def data_received(self, data: bytes) -> None:
        if self._reader is None or self._waiter is None:
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        try:
            response = self._reader.feed(data)
        except HttpError as exc:
            self._finish(exc)
            self.close()
            return
        if response is not None:
            self._finish(response)

    def eof_received(self) -> bool | None:
        if self._reader is not None and self._waiter is not None:
            response = self._reader.at_eof()
            if response is not None:
                self._finish(response)
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._finish(HttpError("the server closed the connection before answering"))

    def _finish(self, outcome: HttpResponse | HttpError) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        if isinstance(outcome, HttpError):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


SslContextFactory = Callable[[], ssl.SSLContext]


class Http11Pool:
    """Keep-alive connections, at most `max_connections` requests in flight (a request
    beyond waits for a free slot). `timeout` bounds one request from connecting to its
    last byte; `ssl_context` is asked once, at the first https connection."""

    def __init__(
        self,
        *,
        max_connections: int = 32,
        timeout: float = 10.0,
        idle_expiry: float = 5.0,
        ssl_context: SslContextFactory | None = None,
        user_agent: str = "convoflow",
    ) -> None:
        self.timeout = timeout
        self.idle_expiry = idle_expiry
        self.connections_opened = 0  # for tests and benchmarks: keep-alive works
        self._ssl_factory = ssl_context or ssl.create_default_context
        self._ssl: ssl.SSLContext | None = None
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[Origin, list[_Connection]] = {}
        self._targets: dict[str, tuple[Origin, str]] = {}
        self._user_agent = user_agent
        self._closed = False

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> HttpResponse:
        origin, target = self._split(url)
        request = self._encode(method, origin, target, headers or {}, body)
        async with self._slots:
            if self._closed:
                raise HttpError("the client is closed")
            conn: _Connection | None = None
            try:
                async with asyncio.timeout(self.timeout):
                    conn = self._take_idle(origin) or await self._connect(origin)
                    response = await conn.send(request)
            except TimeoutError:
                raise HttpTimeout(f"no answer within {self.timeout:g} s") from None
            except OSError as exc:
                raise HttpError(f"could not connect: {type(exc).__name__}") from None
            finally:
                if conn is not None:
                    self._release(origin, conn)
            return response

    async def aclose(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for conn in connections:
                conn.close()
        self._idle.clear()

    def _split(self, url: str) -> tuple[Origin, str]:
        known = self._targets.get(url)
        if known is not None:
            return known
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if any(c.isspace() for c in target):
            # A space or line break would end the request line early: not a path.
            raise HttpError("the URL's path or query holds whitespace (quote it)")
        split = ((parts.scheme, parts.hostname, port), target)
        if len(self._targets) < 1024:  # a fixed API has few URLs; don't grow without bound
            self._targets[url] = split
        return split

    def _encode(
        self,
        method: str,
        origin: Origin,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> bytes:
        scheme, host, port = origin
        default_port = 443 if scheme == "https" else 80
        authority = host if port == default_port else f"{host}:{port}"
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: {authority}",
            f"User-Agent: {self._user_agent}",
        ]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                # A token with a line break would smuggle headers: refuse (value not shown).
                raise HttpError(f"header {name.strip()!r} holds a line break")
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        try:
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        except UnicodeEncodeError as exc:
            # Callers handle HttpError only: a stray character must be a refused request,
            # not an unexpected exception (the text itself is not shown: it may be a token).
            reason = exc.reason
            raise HttpError(f"request line or header not latin-1 encodable ({reason})") from None
        return head + body if body else head

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to be timed out
            if conn.reusable and now - conn.idle_since < self.idle_expiry:
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        context: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = self._ssl_factory()
            context = self._ssl
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            _Connection, host, port, ssl=context, server_hostname=host if context else None
        )
        self.connections_opened += 1
        return conn

    def _release(self, origin: Origin, conn: _Connection) -> None:
        if self._closed or not conn.reusable:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self._idle.setdefault(origin, []).append(conn)
