"""A fake WhatsApp Cloud (Graph) API: run flows, tests, the demo and benchmarks offline.

- `POST /{version}/{phone_number_id}/messages` answers like Meta (success body with a
  fresh wamid, or a Graph error body), also for mark-as-read and typing indicators;
  every request is recorded (`GET /_fake/sent`, `DELETE /_fake/sent`).
- Errors are programmable per recipient (`POST /_fake/errors {to, code, count, mode}`):
  `mode: "sync"` answers the send with the error, `"async"` accepts it and then sends a
  `failed` status webhook, as Meta does for e.g. 131047.
- After each accepted send it POSTs signed status webhooks (sent -> delivered -> read by
  default, `POST /_fake/config` to change or disable) carrying biz_opaque_callback_data,
  as Meta does; with `redeliver_seconds` it redelivers webhooks the receiver did not
  take (down, 5xx), as Meta does for days.
- `GET /{version}/{phone_number_id}?fields=...` answers what Meta says about a number
  (display_phone_number, verified_name, quality_rating): any number with any token by
  default; with `known_numbers_only`, only numbers registered (`POST /_fake/numbers
  {phone_number_id, access_token, ...}`) and with their own token, else Meta's
  unknown-object error.
- Simulated users: `POST /_fake/inbound {from, text | button_reply | ...}` POSTs a signed
  inbound message webhook to the webhook URL and answers with the wamid it used.
State lives in memory. Use `FakeGraph().app` in-process or `convoflow fake-meta`.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette

from convoflow.channels.whatsapp import webhook_bodies as bodies
from convoflow.channels.whatsapp._json import integer, number, obj, text
from convoflow.fakes.graph.model import (
    DEFAULT_PHONE_NUMBER_ID,
    KNOWN_ERRORS,
    FakeConfig,
    FakeNumber,
    ForcedError,
)
from convoflow.fakes.graph.routes import routes, with_fast_sends

__all__ = ["DEFAULT_PHONE_NUMBER_ID", "FakeConfig", "FakeGraph", "FakeNumber", "ForcedError"]

WEBHOOKS_IN_FLIGHT = 32


class FakeGraph:
    def __init__(
        self,
        *,
        webhook_url: str | None = None,
        app_secret: str | None = None,
        statuses: list[str] | None = None,
        status_delay_seconds: float = 0.02,
        default_phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
        display_phone_number: str | None = None,
        redeliver_seconds: float = 0.0,
    ) -> None:
        self.config = FakeConfig(
            webhook_url=webhook_url,
            app_secret=app_secret,
            status_delay_seconds=status_delay_seconds,
            redeliver_seconds=redeliver_seconds,
            default_phone_number_id=default_phone_number_id,
            display_phone_number=display_phone_number,
        )
        if statuses is not None:  # [] disables status webhooks
            self.config.statuses = list(statuses)
        self.sent: list[dict[str, Any]] = []
        self.webhooks: list[dict[str, Any]] = []
        self.forced: dict[str, deque[ForcedError]] = {}
        self._seq = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        # Webhooks in flight at once (Meta's delivery is bounded too). Unbounded, a burst
        # of status webhooks queues thousands of requests in httpcore's pool, whose
        # bookkeeping then starves the fake's own event loop.
        self._webhook_slots: asyncio.Semaphore | None = None
        self._token_hashes: dict[str, str] = {}
        self.numbers: dict[str, FakeNumber] = {}
        self.app = with_fast_sends(self, Starlette(routes=routes(self), lifespan=self._lifespan))

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self._webhook_slots = None  # bound to this event loop

    async def settle(self) -> None:
        """Wait until every scheduled status webhook has been delivered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- programming errors -------------------------------------------------------------

    def force_error(
        self,
        code: int,
        *,
        to: str = "*",
        count: int = 1,
        http_status: int | None = None,
        message: str | None = None,
        details: str | None = None,
        mode: str = "sync",
    ) -> ForcedError:
        known_status, known_message = KNOWN_ERRORS.get(code, (400, "Fake error"))
        forced = ForcedError(
            code, max(1, count), http_status or known_status, message or known_message,
            details, "async" if mode == "async" else "sync",
        )  # fmt: skip
        self.forced.setdefault(to, deque()).append(forced)
        return forced

    def _take_error(self, to: str) -> ForcedError | None:
        for key in (to, "*"):
            queue = self.forced.get(key)
            if queue:
                forced = queue[0]
                forced.remaining -= 1
                if forced.remaining <= 0:
                    queue.popleft()
                return forced
        return None

    # -- numbers ------------------------------------------------------------------------

    def register_number(self, phone_number_id: str, access_token: str, **details: str) -> None:
        """Known from now on, to its own token only (display_phone_number, verified_name,
        quality_rating may be given)."""
        self.numbers[phone_number_id] = FakeNumber(access_token, **details)

    def handle_lookup(self, phone_number_id: str, token: str | None) -> tuple[int, dict[str, Any]]:
        """`GET /{version}/{phone_number_id}`: what Meta answers about a number. A token
        that may not use the number gets Meta's unknown-object error (code 100, subcode
        33), as for a number that does not exist."""
        if not token:
            return 401, bodies.graph_error_body(190, KNOWN_ERRORS[190][1])
        known = self.numbers.get(phone_number_id)
        if known is None and not self.config.known_numbers_only:
            known = FakeNumber(token, self.config.display_phone_number)
        if known is None or known.access_token != token:
            return 400, bodies.unknown_object_body(phone_number_id)
        digits = phone_number_id.rjust(7, "0")
        return 200, {
            "id": phone_number_id,
            "display_phone_number": known.display_phone_number
            or f"+1 555 {digits[-7:-4]} {digits[-4:]}",
            "verified_name": known.verified_name,
            "quality_rating": known.quality_rating,
        }

    # -- sends --------------------------------------------------------------------------

    def records(self, **filters: Any) -> list[dict[str, Any]]:
        """Recorded requests matching every given field (`to`, `kind`, `type`, ...)."""
        wanted = {key: value for key, value in filters.items() if value is not None}
        return [r for r in self.sent if all(r.get(k) == v for k, v in wanted.items())]

    def handle_send(
        self, version: str, phone_number_id: str, body: Any, token: str | None
    ) -> tuple[int, dict[str, Any]]:
        record: dict[str, Any] = {
            "seq": next(self._seq),
            "received_at": datetime.now(UTC).isoformat(),
            "version": version,
            "phone_number_id": phone_number_id,
            "kind": "message",
            "to": None,
            "type": None,
            "body": body,
            # A fingerprint, never the token: enough to assert which token was used.
            "token_sha256": self._token_hash(token) if token else None,
        }
        status, answer = self._answer(record, body, token)
        record["http_status"] = status
        record["wamid"] = answer.get("messages", [{}])[0].get("id") if status == 200 else None
        record["error_code"] = obj(answer.get("error")).get("code")
        self.sent.append(record)
        return status, answer

    def _token_hash(self, token: str) -> str:
        digest = self._token_hashes.get(token)
        if digest is None:
            if len(self._token_hashes) > 1000:
                self._token_hashes.clear()
            digest = self._token_hashes[token] = hashlib.sha256(token.encode()).hexdigest()[:16]
        return digest

    def _answer(
        self, record: dict[str, Any], body: Any, token: str | None
    ) -> tuple[int, dict[str, Any]]:
        if not token:
            return 401, bodies.graph_error_body(190, KNOWN_ERRORS[190][1])
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return 400, bodies.graph_error_body(100, "The parameter messaging_product is required.")
        if body.get("status") == "read":
            record["kind"] = "typing" if body.get("typing_indicator") else "read"
            record["wamid_read"] = text(body.get("message_id"))
            return 200, {"success": True}
        to, kind = text(body.get("to")), text(body.get("type")) or "text"
        record["to"], record["type"] = to, kind
        if not to or not isinstance(body.get(kind), dict):
            return 400, bodies.graph_error_body(131008, KNOWN_ERRORS[131008][1])
        forced = self._take_error(to)
        if forced is not None and forced.mode == "sync":
            error = bodies.graph_error_body(forced.code, forced.message, details=forced.details)
            return forced.http_status, error
        wamid = f"wamid.FAKE{uuid.uuid4().hex.upper()}"
        tracker = text(body.get("biz_opaque_callback_data"))
        if self.config.webhook_url:  # nobody to tell otherwise: keep no pending tasks
            self._schedule(self._receipts(record["phone_number_id"], wamid, to, tracker, forced))
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }

    def _schedule(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _receipts(
        self,
        phone_number_id: str,
        wamid: str,
        to: str,
        tracker: str | None,
        forced: ForcedError | None,
    ) -> None:
        sequence: list[tuple[str, list[dict[str, Any]] | None]] = [
            (status, None) for status in self.config.statuses
        ]
        if forced is not None:  # async failure: Meta accepted, then reports `failed`
            error = bodies.meta_error(forced.code, forced.message, forced.details)
            sequence = [("failed", [error])]
        for status, errors in sequence:
            await asyncio.sleep(self.config.status_delay_seconds)
            payload = bodies.status_body(
                phone_number_id=phone_number_id,
                wamid=wamid,
                status=status,
                recipient_id=to,
                timestamp=int(time.time()),
                biz_opaque_callback_data=tracker,
                errors=errors,
                display_phone_number=self.config.display_phone_number,
            )
            await self.deliver(payload, kind=f"status:{status}", wamid=wamid)

    # -- webhooks -------------------------------------------------------------------------

    async def deliver(
        self,
        payload: dict[str, Any],
        *,
        kind: str,
        wamid: str | None = None,
        webhook_url: str | None = None,
        app_secret: str | None = None,
        sign: bool = True,
    ) -> int | None:
        """POST a webhook body, signed with the app secret; returns the HTTP status (None
        when no webhook URL is configured or the receiver is unreachable)."""
        url = webhook_url or self.config.webhook_url
        secret = app_secret or self.config.app_secret
        entry: dict[str, Any] = {
            "kind": kind, "wamid": wamid, "url": url, "http_status": None, "at": time.time(),
        }  # fmt: skip
        self.webhooks.append(entry)
        if not url:
            entry["error"] = "no webhook URL configured"
            return None
        raw = bodies.encode(payload)
        headers = {"Content-Type": "application/json"}
        if sign and secret:
            headers = bodies.signed(payload, secret)[1]
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        if self._webhook_slots is None:
            self._webhook_slots = asyncio.Semaphore(WEBHOOKS_IN_FLIGHT)
        give_up = time.monotonic() + self.config.redeliver_seconds
        pause = 0.05
        while True:
            status = await self._post(url, raw, headers, entry)
            taken = status is not None and status < 500
            if taken or time.monotonic() + pause > give_up:
                return status
            entry["redeliveries"] = entry.get("redeliveries", 0) + 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)

    async def _post(
        self, url: str, raw: bytes, headers: dict[str, str], entry: dict[str, Any]
    ) -> int | None:
        assert self._http is not None and self._webhook_slots is not None
        try:
            async with self._webhook_slots:
                response = await self._http.post(url, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            return None
        entry["http_status"] = response.status_code
        entry["done_at"] = time.time()
        return response.status_code

    async def simulate_inbound(self, request: dict[str, Any]) -> dict[str, Any]:
        """A user sends a message: build Meta's webhook body and POST it (`repeat` times,
        to simulate Meta's redeliveries)."""
        sender = text(request.get("from"))
        if not sender:
            raise bodies.UserMessageError("`from` (the user's wa_id) is required")
        content = bodies.user_message_content(request)
        wamid = text(request.get("wamid")) or f"wamid.FAKEIN{uuid.uuid4().hex.upper()}"
        phone_number_id = (
            text(request.get("phone_number_id")) or self.config.default_phone_number_id
        )
        payload = bodies.inbound_message_body(
            content,
            phone_number_id=phone_number_id,
            wa_id=sender,
            wamid=wamid,
            timestamp=integer(request.get("timestamp")) or int(time.time()),
            name=text(request.get("name")),
            context_id=text(request.get("context_id")),
            display_phone_number=self.config.display_phone_number,
        )
        statuses = []
        for _ in range(max(1, integer(request.get("repeat")) or 1)):
            statuses.append(
                await self.deliver(
                    payload,
                    kind="inbound",
                    wamid=wamid,
                    webhook_url=text(request.get("webhook_url")),
                    app_secret=text(request.get("app_secret")),
                    sign=request.get("sign", True) is not False,
                )
            )
        return {"wamid": wamid, "webhook_status": statuses[-1], "body": payload}

    def configure(self, changes: dict[str, Any]) -> None:
        for key in ("webhook_url", "app_secret", "default_phone_number_id", "display_phone_number"):
            if key in changes:
                setattr(self.config, key, text(changes[key]))
        if isinstance(changes.get("known_numbers_only"), bool):
            self.config.known_numbers_only = changes["known_numbers_only"]
        if isinstance(changes.get("statuses"), list):
            self.config.statuses = [s for s in changes["statuses"] if isinstance(s, str)]
        for key in ("status_delay_seconds", "redeliver_seconds"):
            seconds = number(changes.get(key))
            if seconds is not None:
                setattr(self.config, key, max(0.0, seconds))
