"""A thin Cloud API client: send a message, mark one read, read a number (the check
that a token controls it when the number is connected). Nothing else on purpose.

Access tokens travel only in the Authorization header of the request; they are never
logged, never put in an exception, never stored on the client.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import Any

import httpx
import structlog

from convoflow.channels.whatsapp._json import number, obj, objs, text
from convoflow.channels.whatsapp.errors import GraphError
from convoflow.channels.whatsapp.pacing import RateLimiter
from convoflow.config import Settings, get_settings

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://graph.facebook.com/v23.0"
DEFAULT_RATE_PER_SECOND = 80.0  # Meta's default throughput per number
DEFAULT_CONVERSATION_INTERVAL = 0.05
IN_FLIGHT = 32  # concurrent Graph requests per client (process)
NUMBER_FIELDS = "display_phone_number,verified_name,quality_rating"


@functools.cache
def _tls() -> ssl.SSLContext:
    """The CA bundle, loaded once per process: loading it costs ~0.1-0.2 s of CPU, and
    every server start (every restart after a crash) builds a client."""
    return httpx.create_ssl_context()


SHARD_CONNECTIONS = 4  # keep-alive connections per httpx pool (see KeepAlivePool)


class KeepAlivePool:
    """`in_flight` keep-alive connections, as several small httpx pools.

    httpcore assigns a request by scanning every connection of its pool, and asks each
    idle one whether its socket is readable (a poll() system call and a dict of socket
    attributes): per request the cost grows with the pool, and with 32 connections it was
    the largest CPU cost of a send (BENCHMARKS.md, the e2e profile). Pools of
    `SHARD_CONNECTIONS` keep that scan short; a request goes to the pool with the fewest
    requests in flight, and never queues inside httpcore (whose queue is scanned too)."""

    def __init__(
        self, *, timeout: float, in_flight: int = IN_FLIGHT, http: httpx.AsyncClient | None = None
    ) -> None:
        self._own = http is None
        if http is not None:  # given by the caller: one pool, its limits
            self._clients = [http]
            self._slots = [asyncio.Semaphore(in_flight)]
        else:
            shards = max(1, -(-in_flight // SHARD_CONNECTIONS))
            per = max(1, in_flight // shards)
            # Every connection kept alive: httpx keeps 20 by default, so a burst beyond
            # would open (and close) a TCP connection per message.
            limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
            self._clients = [
                httpx.AsyncClient(timeout=timeout, limits=limits, verify=_tls())
                for _ in range(shards)
            ]
            self._slots = [asyncio.Semaphore(per) for _ in range(shards)]
        self._busy = [0] * len(self._clients)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        index = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            async with self._slots[index]:
                return await self._clients[index].request(method, url, **kwargs)
        finally:
            self._busy[index] -= 1

    async def aclose(self) -> None:
        if self._own:
            for client in self._clients:
                await client.aclose()


class GraphClient:
    """`base_url` includes the API version (`https://graph.facebook.com/v23.0`), so the
    fake Graph server or another version is one setting away."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        rate_per_second: float = DEFAULT_RATE_PER_SECOND,
        conversation_interval: float = DEFAULT_CONVERSATION_INTERVAL,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = KeepAlivePool(timeout=timeout, http=http)
        # Bursts up to one second's worth per number, then `rate_per_second`.
        self.number_limiter = RateLimiter(rate_per_second, burst=max(1, int(rate_per_second)))
        rate = 1.0 / conversation_interval if conversation_interval > 0 else 0.0
        self.conversation_limiter = RateLimiter(rate, burst=1)

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, http: httpx.AsyncClient | None = None
    ) -> GraphClient:
        settings = settings or get_settings()
        return cls(
            base_url=settings.graph_base_url,
            http=http,
            timeout=settings.graph_timeout_seconds,
            rate_per_second=settings.graph_rate_per_second,
            conversation_interval=settings.graph_conversation_interval_seconds,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send_message(
        self, phone_number_id: str, access_token: str, body: dict[str, Any]
    ) -> str:
        """Send one message body; returns its `wamid`. Raises GraphError."""
        await self.number_limiter.acquire(phone_number_id)
        recipient = text(body.get("to"))
        if recipient:
            await self.conversation_limiter.acquire(f"{phone_number_id}:{recipient}")
        payload = await self._post(phone_number_id, access_token, body)
        messages = objs(obj(payload).get("messages"))
        wamid = text(messages[0].get("id")) if messages else None
        if not wamid:
            raise GraphError("the Graph API accepted the message but returned no id")
        return wamid

    async def mark_read(
        self, phone_number_id: str, access_token: str, wamid: str, *, typing: bool = False
    ) -> None:
        """Blue ticks for `wamid`; with `typing`, also show "typing…" to the user (Meta
        clears it when we answer or after 25 seconds)."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        await self.number_limiter.acquire(phone_number_id)
        await self._post(phone_number_id, access_token, body)

    async def phone_number_info(self, phone_number_id: str, access_token: str) -> dict[str, Any]:
        """`GET /{phone_number_id}?fields=display_phone_number,verified_name,quality_rating`:
        succeeds only when the token may use the number (connecting a number proves
        control of it). Raises GraphError."""
        payload = await self._request(
            "GET", phone_number_id, access_token, params={"fields": NUMBER_FIELDS}
        )
        return obj(payload)

    async def _post(self, phone_number_id: str, access_token: str, body: dict[str, Any]) -> Any:
        return await self._request("POST", f"{phone_number_id}/messages", access_token, json=body)

    async def _request(
        self,
        method: str,
        path: str,
        access_token: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        phone_number_id = path.split("/", 1)[0]
        url = f"{self.base_url}/{path}"
        headers = {"Authorization": f"Bearer {access_token}"}
        try:
            response = await self._http.request(
                method, url, json=json, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            # No status: classified as retryable. The message text is httpx's (no token).
            raise GraphError(f"could not reach the Graph API: {type(exc).__name__}") from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.is_success:
            return payload
        error = GraphError.from_response(
            response.status_code, payload, retry_after=number(response.headers.get("retry-after"))
        )
        log.warning(
            "graph api error",
            phone_number_id=phone_number_id,
            http_status=response.status_code,
            code=error.code,
            fbtrace_id=error.fbtrace_id,
        )
        raise error
