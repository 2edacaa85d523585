"""Simulated WhatsApp users for the database-fault tests: one new user and wamid per
message, each a signed inbound webhook posted to a real server, every delivery's answer
and when it was sent and answered (monotonic)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from convoflow.channels.whatsapp import webhook_bodies as bodies
from tests.whatsapp_e2e.conftest import APP_SECRET, NUMBER

POST_GAP_SECONDS = 0.1
# How long a phase may wait for the answers it must see: a bound for a hung server, not a
# measure.
PHASE_SECONDS = 60.0


@dataclass(frozen=True)
class Delivery:
    wamid: str
    started: float  # time.monotonic()
    finished: float
    status: int  # 0: no HTTP answer (a timeout, a reset connection)
    body: Any


class Users:
    """Simulated users: one new user and wamid per message; every delivery's answer."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.bodies: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.user_of: dict[str, str] = {}
        self.answers: dict[str, list[tuple[int, Any]]] = {}
        self.deliveries: list[Delivery] = []  # in the order they were answered
        self._next = 0

    def new_message(self) -> str:
        self._next += 1
        wamid = f"wamid.faults.{self._next:05d}"
        user = f"1555{self._next:07d}"
        payload = bodies.inbound_message_body(
            {"type": "text", "text": {"body": wamid}},
            phone_number_id=NUMBER,
            wa_id=user,
            wamid=wamid,
            timestamp=int(time.time()),
        )
        self.bodies[wamid] = bodies.signed(payload, APP_SECRET)
        self.user_of[wamid] = user
        self.answers[wamid] = []
        return wamid

    async def deliver(self, wamid: str) -> int:
        raw, headers = self.bodies[wamid]
        started = time.monotonic()
        body: Any
        try:
            response = await self.http.post("/webhooks/whatsapp", content=raw, headers=headers)
        except httpx.TransportError as exc:  # not acknowledged: counted, not a crash here
            status, body = 0, repr(exc)
        else:
            status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = response.text
        self.answers[wamid].append((status, body))
        self.deliveries.append(Delivery(wamid, started, time.monotonic(), status, body))
        return status

    def since(self, started: float) -> list[Delivery]:
        """Deliveries sent at or after `started` (monotonic) and already answered."""
        return [d for d in self.deliveries if d.started >= started]

    async def until(self, phase: str, since: float, count: int, status: int | None) -> None:
        """Wait until `count` deliveries sent since `since` were answered (`status` if
        given)."""
        deadline = time.monotonic() + PHASE_SECONDS
        while True:
            seen = self.since(since)
            if sum(1 for d in seen if status is None or d.status == status) >= count:
                return
            answered = Counter(d.status for d in seen)
            assert time.monotonic() < deadline, (
                f"{phase}: {count} answers {status or ''} expected within {PHASE_SECONDS}s, "
                f"got {dict(answered)}"
            )
            await asyncio.sleep(0.05)

    def acknowledged(self) -> set[str]:
        return {w for w, answers in self.answers.items() if any(s == 200 for s, _ in answers)}

    async def post_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.deliver(self.new_message())
            await asyncio.sleep(POST_GAP_SECONDS)
