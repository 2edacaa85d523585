"""The one way out: every HTTP call to a URL a tenant gave goes through `Egress.request`
(guard, call, classify the outcome, one error shape, the idempotency key header), or,
for the MCP SDK, which makes its own requests, through a client from
`Egress.mcp_http_client` whose transport guards each of them.

SSRF guard: a flow author must not be able to make the server call its own network
(metadata services, the database, admin ports). Targets that resolve to private, loopback,
link-local, multicast, reserved or unspecified addresses are refused unless the project
(or the process, CONVOFLOW_ALLOW_PRIVATE_NETWORK) allows them. The name is resolved here
and checked for every address it has; a DNS answer that changes between this check and
the connection (rebinding) is not covered — run behind an egress proxy if that matters.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import httpx2

# The URLs tenants may give (webhook and function endpoints): absolute http(s) URIs as
# RFC 3986 writes them, ASCII only (an IRI's non-ASCII host is punycoded, its path
# percent-encoded), a host name or IPv4 address, an optional port. The API publishes it
# as the fields' pattern, and Kapso's response schemas declare these fields `format: uri`.
_URI_CHAR = r"(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9\-._~!$&'()*+,;=:@/?])"
HTTP_URL_PATTERN = rf"^https?://[A-Za-z0-9][A-Za-z0-9.\-]*(?::[0-9]{{1,5}})?(?:[/?]{_URI_CHAR}*)?(?:#{_URI_CHAR}*)?$"
HTTP_URL_EXPECTED = (
    "an http(s) URL as RFC 3986 writes it (ASCII: percent-encode other characters, "
    "punycode the host), e.g. https://example.com/hook"
)


class EgressRefused(Exception):
    """The target is one the guard refuses: asking again will not change the answer."""


class EgressUnresolved(EgressRefused):
    """The host name did not resolve: DNS may answer later, so callers may retry."""


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def check_url(url: str, *, allow_private: bool, shown: str | None = None) -> None:
    """Raise EgressRefused with a message saying what was expected. `shown` is the url to
    quote instead of `url` (its template, when it holds a project secret): every message
    names that, never a part of `url` (its host may be the secret)."""
    parts = urlsplit(url)
    quoted = repr(url if shown is None else shown)
    if parts.scheme not in ("http", "https"):
        raise EgressRefused(f"url {quoted} must start with http:// or https://")
    host = parts.hostname
    if not host:
        raise EgressRefused(f"url {quoted} has no host")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host,
            parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except socket.gaierror as exc:
        which = f"host {host!r}" if shown is None else f"the host of url {quoted}"
        raise EgressUnresolved(f"cannot resolve {which}: {exc.strerror}") from None
    for info in infos:
        address = str(info[4][0])
        if _is_internal(address):
            which = f"url host {host!r}" if shown is None else f"the host of url {quoted}"
            raise EgressRefused(
                f"{which} resolves to internal address {address}; calls to private, "
                "loopback and link-local networks are refused unless the project sets "
                "allow_private_network"
            )


def library_error(exc: BaseException, *, shown: str | None) -> str:
    """An HTTP library's exception as error text: its type and message, or, when the url
    is shown as its template (it holds a project secret), its type only: the library's
    words may quote the url in forms of its own (normalised, lower-cased host)."""
    name = type(exc).__name__
    if shown is not None:
        return f"{name} (details withheld: the url {shown!r} holds a project secret)"
    return f"{name}: {exc}" if str(exc) else name


class _GuardedTransport(httpx2.AsyncBaseTransport):
    """The SSRF guard on every request of an httpx2 client: the MCP SDK (mcp 2.x) speaks
    httpx2 and makes several requests per operation (discover or initialize, the call,
    the session's DELETE), each of which is checked here before it is sent."""

    def __init__(
        self, inner: httpx2.AsyncBaseTransport, *, allow_private: bool, shown: str | None
    ) -> None:
        self._inner = inner
        self._allow_private = allow_private
        self._shown = shown

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await check_url(str(request.url), allow_private=self._allow_private, shown=self._shown)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        pass  # the inner pool is shared by every MCP client: Egress.close closes it


Kind = Literal["ok", "retryable", "permanent"]
MAX_ERROR_CHARS = 500
MAX_RETRY_AFTER_SECONDS = 600.0
ProjectPolicy = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True)
class Outcome:
    """What one outbound call came to. `error` is the one error shape every caller records:
    a sentence saying what happened (and, for a refusal, what was expected)."""

    kind: Kind
    status: int | None = None
    body: bytes = b""
    content_type: str = ""
    error: str | None = None
    refused: bool = False  # the SSRF guard refused the target: no retry can succeed
    retry_after: float | None = None  # seconds the endpoint asked us to wait (429, 5xx)
    duration_ms: int | None = None  # set once a request was sent

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    def parsed(self, max_chars: int | None = None) -> Any:
        """The body as JSON when it is JSON, else as text; None when empty."""
        text = self.body.decode("utf-8", errors="replace")
        if max_chars is not None:
            text = text[:max_chars]
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare from APIs and is ignored)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER_SECONDS)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _failure(kind: Kind, error: str, *, refused: bool = False) -> Outcome:
    return Outcome(kind, error=error[:MAX_ERROR_CHARS], refused=refused)


def classify(response: httpx.Response, duration_ms: int) -> Outcome:
    """2xx ok; network-like answers (5xx, 429 with Retry-After) retryable; the rest (4xx,
    and 3xx: redirects are not followed, a redirect could lead inside) permanent."""
    status = response.status_code
    retry_after = _retry_after(response.headers.get("retry-after"))
    if 200 <= status < 300:
        kind: Kind = "ok"
    elif status >= 500 or (status == 429 and retry_after is not None):
        kind = "retryable"
    else:
        kind = "permanent"
    return Outcome(
        kind,
        status=status,
        body=response.content,
        content_type=response.headers.get("content-type", "application/octet-stream"),
        error=None if kind == "ok" else f"the endpoint answered HTTP {status}",
        retry_after=retry_after,
        duration_ms=duration_ms,
    )


class Egress:
    """Every outbound call to a URL a tenant gave (webhook and function nodes, functions
    invoked through the API, project webhooks) goes through `request`: guard, call,
    classify. Built once per process; it owns the keep-alive connection pool."""

    def __init__(
        self,
        *,
        allow_private_network: bool,
        project_allows_private: ProjectPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        default_timeout: float = 10.0,
    ) -> None:
        self.allow_private_network = allow_private_network
        self._project_allows_private = project_allows_private
        self.default_timeout = default_timeout
        self._http = http
        self._owns_http = http is None
        # The MCP SDK's clients share one pool: a transport of their own each would build
        # an SSL context per operation (~50 ms of CPU loading the CA bundle) and reconnect.
        self._mcp_pool: httpx2.AsyncHTTPTransport | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            # Never follow redirects: the guard checked this URL, not where it points.
            timeout = httpx.Timeout(self.default_timeout)
            self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        return self._http

    async def close(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._mcp_pool is not None:
            await self._mcp_pool.aclose()
            self._mcp_pool = None

    async def allows_private(self, project_id: str | None) -> bool:
        if self.allow_private_network:
            return True
        if project_id is None or self._project_allows_private is None:
            return False
        return await self._project_allows_private(project_id)

    async def mcp_http_client(
        self,
        url: str,
        *,
        project_id: str | None,
        headers: Mapping[str, str],
        timeout_seconds: float,
        shown_url: str | None = None,
    ) -> httpx2.AsyncClient:
        """An httpx2 client for the MCP SDK's streamable HTTP transport to `url`, every
        request of which passes the SSRF guard with `project_id`'s policy. `url` is checked
        here first, so a refused target raises EgressRefused before the SDK starts its
        tasks. One client per MCP operation: the caller closes it (`async with`).
        `shown_url`: what the guard's refusals quote instead of `url` (check_url)."""
        allow_private = await self.allows_private(project_id)
        await check_url(url, allow_private=allow_private, shown=shown_url)
        if self._mcp_pool is None:
            self._mcp_pool = httpx2.AsyncHTTPTransport()
        transport = _GuardedTransport(self._mcp_pool, allow_private=allow_private, shown=shown_url)
        return httpx2.AsyncClient(
            transport=transport,
            headers=dict(headers),
            timeout=httpx2.Timeout(timeout_seconds),
            follow_redirects=False,  # the SDK follows same-origin redirects itself
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        project_id: str | None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        json_body: Any = None,
        timeout_seconds: float | None = None,
        idempotency_key: str | None = None,
        idempotency_header: str = "Idempotency-Key",
        shown_url: str | None = None,
    ) -> Outcome:
        """One attempt; never raises for anything the endpoint or the network does.
        `content` is sent as it is, `json_body` as JSON (None: no body).
        `project_id` is whose allow_private_network setting applies. `shown_url` is what
        the error quotes instead of `url` when `url` holds a project secret (its template):
        no error then holds any part of `url`."""
        try:
            allow_private = await self.allows_private(project_id)
            await check_url(url, allow_private=allow_private, shown=shown_url)
        except EgressUnresolved as exc:
            return _failure("retryable", str(exc))  # DNS may answer later
        except EgressRefused as exc:
            return _failure("permanent", f"refused by the SSRF guard: {exc}", refused=True)
        sent = dict(headers or {})
        if idempotency_key is not None:
            sent[idempotency_header] = idempotency_key
        kwargs: dict[str, Any] = {
            "headers": sent,
            "timeout": timeout_seconds or self.default_timeout,
        }
        if content is not None:
            kwargs["content"] = content
        elif json_body is not None:
            kwargs["json"] = json_body
        started = time.perf_counter()
        try:
            response = await self.http.request(method.upper(), url, **kwargs)
        except httpx.HTTPError as exc:
            error = library_error(exc, shown=shown_url)
            return replace(_failure("retryable", error), duration_ms=_ms(started))
        return classify(response, _ms(started))
