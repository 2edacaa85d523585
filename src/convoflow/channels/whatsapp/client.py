"""A thin Cloud API client: send a message, mark one read, read a number (the check
that a token controls it when the number is connected). Nothing else on purpose.

Access tokens travel only in the Authorization header of the request; they are never
logged, never put in an exception, never stored on the client.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any
from urllib.parse import quote, urlencode

import certifi
import orjson
import structlog

from convoflow.channels.http11 import Http11Pool, HttpError
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
    return ssl.create_default_context(cafile=certifi.where())


class GraphClient:
    """`base_url` includes the API version (`https://graph.facebook.com/v23.0`), so the
    fake Graph server or another version is one setting away."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        http: Http11Pool | None = None,
        timeout: float = 10.0,
        rate_per_second: float = DEFAULT_RATE_PER_SECOND,
        conversation_interval: float = DEFAULT_CONVERSATION_INTERVAL,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Every send of the process goes through this pool: httpx cost two thirds of the
        # server's CPU per message (channels/http11.py says why and what it leaves out).
        self._own_http = http is None
        self._http = http or Http11Pool(
            max_connections=IN_FLIGHT, timeout=timeout, ssl_context=_tls
        )
        # Bursts up to one second's worth per number, then `rate_per_second`.
        self.number_limiter = RateLimiter(rate_per_second, burst=max(1, int(rate_per_second)))
        rate = 1.0 / conversation_interval if conversation_interval > 0 else 0.0
        self.conversation_limiter = RateLimiter(rate, burst=1)

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, http: Http11Pool | None = None
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
        if self._own_http:
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
            "GET", phone_number_id, "", access_token, params={"fields": NUMBER_FIELDS}
        )
        return obj(payload)

    async def _post(self, phone_number_id: str, access_token: str, body: dict[str, Any]) -> Any:
        return await self._request("POST", phone_number_id, "/messages", access_token, body=body)

    async def _request(
        self,
        method: str,
        phone_number_id: str,
        suffix: str,
        access_token: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        # Quoted whole: a `/`, `?`, space or non-ASCII character in the id must not
        # change which resource (or request line) the call names.
        path = quote(phone_number_id, safe="") + suffix
        # "," kept as is: Meta writes `fields=a,b,c`.
        url = f"{self.base_url}/{path}" + (f"?{urlencode(params, safe=',')}" if params else "")
        headers = {"Authorization": f"Bearer {access_token}"}
        content: bytes | None = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = orjson.dumps(body)
        try:
            response = await self._http.request(method, url, headers=headers, body=content)
        except HttpError as exc:
            # No status: classified as retryable. The message names the failure only.
            raise GraphError(f"could not reach the Graph API: {type(exc).__name__}: {exc}") from exc
        try:
            payload = orjson.loads(response.body) if response.body else None
        except orjson.JSONDecodeError:
            payload = None
        if response.is_success:
            return payload
        error = GraphError.from_response(
            response.status, payload, retry_after=number(response.headers.get("retry-after"))
        )
        log.warning(
            "graph api error",
            phone_number_id=phone_number_id,
            http_status=response.status,
            code=error.code,
            fbtrace_id=error.fbtrace_id,
        )
        raise error
