"""The HTTP driver: a running server's public API (`--url`, `--api-key`), nothing else.

A case is an API start on the sandbox channel (`context.channel = "sandbox"`) for a phone
number of its own, the user's replies are resumes, and the bot's messages are read back
from `GET /whatsapp/messages`. Starts and resumes run before the API answers, but sends
(and webhook calls) happen in the server's worker afterwards, so a turn waits until the
conversation has as many outbound messages as its executions recorded sends.

Limit: a server's clock cannot be moved through the API, so `advance_time` skips the rest
of its case (run timeouts in-process)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from convoflow.testing.driver import DriverError, Reply, Snapshot, Unsupported
from convoflow.testing.local import read_definition
from convoflow.testing.model import Suite

SETTLE_SECONDS = 15.0
POLL_SECONDS = 0.05


class Api:
    def __init__(self, url: str, api_key: str) -> None:
        base = url.rstrip("/")
        if not base.endswith("/platform/v1"):
            base += "/platform/v1"
        self.http = httpx.AsyncClient(base_url=base, headers={"X-API-Key": api_key}, timeout=30.0)

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise DriverError(f"{method} {self.http.base_url}{path}: {exc!r}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("error") or response.text
            except ValueError:
                detail = response.text
            raise DriverError(f"{method} {path} answered {response.status_code}: {detail}")
        return response.json() if response.content else None


class RemoteDriver:
    def __init__(self, url: str, api_key: str) -> None:
        self.name = f"against {url}"
        self.api = Api(url, api_key)
        self.created: list[str] = []

    async def prepare(self, suite: Suite) -> str:
        if suite.workflow_id is not None:
            await self.api.call("GET", f"/workflows/{suite.workflow_id}")
            return suite.workflow_id
        assert suite.flow_path is not None
        name, definition = read_definition(suite.flow_path)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        body = {
            "workflow": {
                "name": f"{name or suite.flow_path.stem} (convoflow test {stamp})",
                "definition": definition,
            }
        }
        workflow = (await self.api.call("POST", "/workflows", json=body))["data"]
        workflow_id = str(workflow["id"])
        self.created.append(workflow_id)
        await self.api.call(
            "PATCH", f"/workflows/{workflow_id}", json={"workflow": {"status": "active"}}
        )
        trigger = {"trigger": {"trigger_type": "api_call"}}
        await self.api.call("POST", f"/workflows/{workflow_id}/triggers", json=trigger)
        return workflow_id

    async def conversation(self, flow: str) -> RemoteConversation:
        # A number of its own per case: the server keeps one conversation per number.
        phone = "+1555" + "".join(secrets.choice("0123456789") for _ in range(8))
        return RemoteConversation(self.api, flow, phone)

    async def close(self) -> None:
        # Workflows this run created are archived, which also ends what still waits.
        for workflow_id in self.created:
            body = {"workflow": {"status": "archived"}}
            # The results stand; a workflow left active is only clutter.
            with contextlib.suppress(DriverError):
                await self.api.call("PATCH", f"/workflows/{workflow_id}", json=body)
        await self.api.http.aclose()


class RemoteConversation:
    def __init__(self, api: Api, workflow_id: str, phone: str) -> None:
        self.api = api
        self.workflow_id = workflow_id
        self.phone = phone
        self.execution_id = ""
        self.conversation_id = ""
        self.seen = 0

    async def start(self, variables: dict[str, Any]) -> list[dict[str, Any]]:
        body = {
            "workflow_execution": {
                "phone_number": self.phone,
                "variables": variables,
                "context": {"channel": "sandbox"},
            }
        }
        started = await self.api.call(
            "POST", f"/workflows/{self.workflow_id}/executions", json=body
        )
        self.execution_id = str(started["data"]["id"])
        detail = await self._detail(self.execution_id)
        self.conversation_id = str(detail.get("whatsapp_conversation_id") or "")
        return await self._settle()

    async def send(self, reply: Reply, variables: dict[str, Any] | None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"message": {"kind": reply.kind, "data": reply.text}}
        if variables:
            body["variables"] = variables
        await self.api.call("POST", f"/workflow_executions/{self.execution_id}/resume", json=body)
        return await self._settle()

    async def advance_time(self, seconds: float) -> list[dict[str, Any]]:
        raise Unsupported(
            "advance_time needs the in-process runner: a server's clock cannot be moved "
            "through the API (run this suite without --url); the rest of the case is skipped"
        )

    async def snapshot(self) -> Snapshot:
        root = await self._detail(self.execution_id)
        target = root.get("resumable_execution_id") or self.execution_id
        current = root if target == self.execution_id else await self._detail(str(target))
        error = None
        if current.get("status") == "failed":
            error = str((current.get("error_details") or {}).get("message") or "unknown error")
        variables = dict((current.get("execution_context") or {}).get("vars") or {})
        return Snapshot(status=str(current.get("status")), variables=variables, error=error)

    async def _detail(self, execution_id: str) -> dict[str, Any]:
        found: dict[str, Any] = (
            await self.api.call("GET", f"/workflow_executions/{execution_id}")
        )["data"]
        return found

    async def _settle(self) -> list[dict[str, Any]]:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            sends, running = await self._recorded_sends()
            outbound = await self._outbound()
            if not running and len(outbound) >= sends:
                break
            if time.monotonic() > deadline:
                raise DriverError(
                    f"the server did not settle in {SETTLE_SECONDS:.0f}s: {sends} sends "
                    f"recorded, {len(outbound)} messages delivered, running: {running}"
                )
            await asyncio.sleep(POLL_SECONDS)
        new = outbound[self.seen :]
        self.seen = len(outbound)
        return new

    async def _recorded_sends(self) -> tuple[int, bool]:
        """Sends recorded by the conversation's executions, and whether one still runs."""
        listed = await self.api.call(
            "GET", f"/whatsapp/conversations/{self.conversation_id}/flow_executions"
        )
        sends, running = 0, False
        for execution in listed.get("data") or []:
            detail = await self._detail(str(execution["id"]))
            running = running or detail.get("status") == "running"
            sends += sum(
                1
                for event in detail.get("events") or []
                if event.get("event_type") == "action_performed"
                and (event.get("payload") or {}).get("action") == "send_message"
            )
        return sends, running

    async def _outbound(self) -> list[dict[str, Any]]:
        """The conversation's bot messages, oldest first, in the engine's shape."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "conversation_id": self.conversation_id,
            "direction": "outbound",
            "limit": 100,
        }
        while True:
            page = await self.api.call("GET", "/whatsapp/messages", params=params)
            found.extend(page.get("data") or [])
            after = (page.get("paging") or {}).get("next")
            if not after:
                break
            params["after"] = after
        return [_engine_shape(m) for m in reversed(found)]  # the API lists newest first


def _engine_shape(message: dict[str, Any]) -> dict[str, Any]:
    kind = str(message.get("type"))
    body = message.get(kind)
    if kind == "text" and isinstance(body, dict):
        return {"type": "text", "text": body.get("body", "")}
    return {"type": kind, kind: body}
