"""The Graph client's HTTP/1.1 keep-alive pool (channels/http11.py) against small servers
on loopback that answer the way real servers may: Content-Length or chunked bodies,
`Connection: close`, idle connections closed, no answer at all, TLS. Also under uvloop,
which `convoflow serve` runs on (its transports are not asyncio.Transport subclasses)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from convoflow.channels.http11 import Http11Pool, HttpError, HttpTimeout
from convoflow.channels.whatsapp.client import GraphClient

# What the server answers to one request, given the request's bytes.
Answer = Callable[[bytes], bytes | None]


def ok(body: bytes = b'{"ok":true}', extra: str = "") -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + extra + "\r\n").encode() + body


class Server:
    """Reads one request at a time per connection (head + Content-Length body) and writes
    what `answer` returns; None: close the connection without answering."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ssl_context)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.answer(request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client or the test's teardown ended the connection
        finally:
            writer.close()

    def close_idle(self) -> None:
        for writer in self.writers:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.close_idle()
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Answer], Awaitable[tuple[Server, str]]]]:
    servers: list[Server] = []

    async def start(answer: Answer) -> tuple[Server, str]:
        server = Server(answer)
        servers.append(server)
        port = await server.start()
        return server, f"http://127.0.0.1:{port}"

    yield start
    for server in servers:
        await server.stop()


async def test_requests_share_one_kept_alive_connection(serve) -> None:  # type: ignore[no-untyped-def]
    server, base = await serve(lambda _request: ok())
    pool = Http11Pool()
    try:
        for _ in range(5):
            response = await pool.request("POST", f"{base}/v23.0/1/messages", body=b"{}")
            assert (response.status, response.body) == (200, b'{"ok":true}')
    finally:
        await pool.aclose()
    assert server.connections == 1 and pool.connections_opened == 1
    first = server.requests[0].decode()
    assert first.startswith("POST /v23.0/1/messages HTTP/1.1\r\n")
    assert f"Host: {base.removeprefix('http://')}\r\n" in first
    assert "Content-Length: 2\r\n" in first and first.endswith("\r\n\r\n{}")


async def test_concurrent_requests_are_capped_at_max_connections(serve) -> None:  # type: ignore[no-untyped-def]
    server, base = await serve(lambda request: ok(request.rsplit(b"\r\n\r\n", 1)[1]))
    pool = Http11Pool(max_connections=4)
    try:
        answers = await asyncio.gather(
            *(pool.request("POST", f"{base}/x", body=str(n).encode()) for n in range(50))
        )
    finally:
        await pool.aclose()
    assert [a.body for a in answers] == [str(n).encode() for n in range(50)]
    assert server.connections <= 4


async def test_chunked_body_with_trailer(serve) -> None:  # type: ignore[no-untyped-def]
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Trace: a\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    server, base = await serve(lambda _request: chunked)
    pool = Http11Pool()
    try:
        first = await pool.request("GET", f"{base}/a")
        second = await pool.request("GET", f"{base}/b?fields=x,y")
    finally:
        await pool.aclose()
    assert first.body == second.body == b"hello world"
    assert first.headers["x-trace"] == "a"
    assert server.connections == 1
    assert server.requests[1].startswith(b"GET /b?fields=x,y HTTP/1.1\r\n")


async def test_interim_answer_then_error_status_and_headers(serve) -> None:  # type: ignore[no-untyped-def]
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b'{"error":{}}', "Retry-After: 7\r\n").replace(
        b"200 OK", b"429 Too Many Requests"
    )
    _server, base = await serve(lambda _request: answer)
    pool = Http11Pool()
    try:
        response = await pool.request("POST", f"{base}/x", body=b"{}")
    finally:
        await pool.aclose()
    assert (response.status, response.is_success) == (429, False)
    assert response.headers["retry-after"] == "7" and response.body == b'{"error":{}}'


async def test_connection_close_and_a_closed_idle_connection_are_not_reused(serve) -> None:  # type: ignore[no-untyped-def]
    server, base = await serve(lambda _request: ok())
    closing, closing_base = await serve(lambda _request: ok(extra="Connection: close\r\n"))
    pool = Http11Pool()
    try:
        await pool.request("GET", f"{closing_base}/")
        await pool.request("GET", f"{closing_base}/")
        await pool.request("GET", f"{base}/")
        server.close_idle()  # the server times the idle connection out
        await asyncio.sleep(0.05)  # the close reaches the client's event loop
        response = await pool.request("GET", f"{base}/")
    finally:
        await pool.aclose()
    assert response.status == 200
    assert closing.connections == 2 and server.connections == 2


async def test_idle_connections_expire(serve) -> None:  # type: ignore[no-untyped-def]
    server, base = await serve(lambda _request: ok())
    pool = Http11Pool(idle_expiry=0.0)
    try:
        await pool.request("GET", f"{base}/")
        await pool.request("GET", f"{base}/")
    finally:
        await pool.aclose()
    assert server.connections == 2


async def test_no_answer_is_an_error_and_the_request_is_sent_once(serve) -> None:  # type: ignore[no-untyped-def]
    server, base = await serve(lambda _request: None)  # reads the request, then hangs up
    pool = Http11Pool()
    try:
        with pytest.raises(HttpError, match="closed the connection before answering"):
            await pool.request("POST", f"{base}/x", body=b"{}")
    finally:
        await pool.aclose()
    assert len(server.requests) == 1


async def test_a_server_that_never_answers_times_out() -> None:
    hold = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await hold.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Http11Pool(timeout=0.2)
    try:
        with pytest.raises(HttpTimeout):
            await pool.request("GET", f"http://127.0.0.1:{port}/")
    finally:
        hold.set()
        await pool.aclose()
        server.close()
        await server.wait_closed()


async def test_refused_connection_and_bad_input() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pool = Http11Pool()
    try:
        with pytest.raises(HttpError, match="could not connect"):
            await pool.request("GET", f"http://127.0.0.1:{port}/")
        with pytest.raises(HttpError, match="line break"):
            await pool.request("GET", f"http://127.0.0.1:{port}/", headers={"X": "a\r\nB: c"})
        with pytest.raises(HttpError, match="not an http"):
            await pool.request("GET", "ftp://example.com/")
        # Not latin-1 / a space in the target: HttpError (what callers catch), before any
        # byte is sent; a UnicodeEncodeError here was a 500 on connecting a number.
        with pytest.raises(HttpError, match="latin-1"):
            await pool.request("GET", f"http://127.0.0.1:{port}/", headers={"X": "1€"})
        with pytest.raises(HttpError, match="latin-1"):
            await pool.request("GET", f"http://127.0.0.1:{port}/1€")
        with pytest.raises(HttpError, match="whitespace"):
            await pool.request("GET", f"http://127.0.0.1:{port}/1 2?x")
    finally:
        await pool.aclose()


async def test_the_graph_client_quotes_the_number_id_in_the_path(serve) -> None:  # type: ignore[no-untyped-def]
    """An id with a space, `?`, `/` or `€` names one (unknown) path segment: it cannot end
    the request line, add a query or reach another resource."""
    server, base = await serve(lambda _request: ok(b'{"id":"1"}'))
    client = GraphClient(base_url=f"{base}/v23.0")
    try:
        for number in ("1 2?x", "1€", "../1/messages"):
            await client.phone_number_info(number, "EAAG-token")
    finally:
        await client.aclose()
    lines = [request.decode("latin-1").split("\r\n", 1)[0] for request in server.requests]
    # As Meta documents it (and issue 8 writes it): the commas unescaped.
    fields = "fields=display_phone_number,verified_name,quality_rating"
    assert lines == [
        f"GET /v23.0/1%202%3Fx?{fields} HTTP/1.1",
        f"GET /v23.0/1%E2%82%AC?{fields} HTTP/1.1",
        f"GET /v23.0/..%2F1%2Fmessages?{fields} HTTP/1.1",
    ]


async def test_malformed_answers_are_errors(serve) -> None:  # type: ignore[no-untyped-def]
    _server, base = await serve(lambda _request: b"SSH-2.0-OpenSSH\r\n\r\n")
    pool = Http11Pool()
    try:
        with pytest.raises(HttpError, match="HTTP/1"):
            await pool.request("GET", f"{base}/")
    finally:
        await pool.aclose()


def _certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def _over_tls(tmp: Path) -> tuple[int, int]:
    cert, key = _certificate(tmp)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = Server(lambda _request: ok())
    port = await server.start(server_ctx)
    pool = Http11Pool(ssl_context=lambda: ssl.create_default_context(cafile=str(cert)))
    untrusting = Http11Pool()  # the system's CAs: our self-signed certificate is refused
    try:
        for _ in range(3):
            response = await pool.request("GET", f"https://localhost:{port}/v23.0/1")
            assert response.status == 200
        with pytest.raises(HttpError):
            await untrusting.request("GET", f"https://localhost:{port}/")
    finally:
        await pool.aclose()
        await untrusting.aclose()
        await server.stop()
    return server.connections, len(server.requests)


async def test_https_keeps_its_connection_and_checks_the_certificate(tmp_path: Path) -> None:
    connections, requests = await _over_tls(tmp_path)
    assert requests == 3
    assert connections == 1  # kept alive for the three (the refused handshake never connected)


def test_under_uvloop(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int]:
        server = Server(lambda _request: ok())
        port = await server.start()
        pool = Http11Pool(max_connections=2)
        try:
            await asyncio.gather(
                *(pool.request("GET", f"http://127.0.0.1:{port}/") for _ in range(20))
            )
        finally:
            await pool.aclose()
            await server.stop()
        tls = await _over_tls(tmp_path)
        return server.connections, tls[1]

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        connections, tls_requests = runner.run(scenario())
    assert connections <= 2 and tls_requests == 3
