"""The HTTP driver: a running server's public API (`--url`, `--api-key`), nothing else.

A case is an API start on the sandbox channel (`context.channel = "sandbox"`) for a phone
number of its own. The user speaks through the sandbox API (`POST /sandbox/conversations/
{id}/messages`, routed like any inbound message, so a tapped button is WhatsApp's
interactive reply, as in-process); a reply that carries `set_vars` is an API resume (the
only way to send variables with it). The bot's messages are read back from the sandbox
transcript. Sends (and webhook calls) happen in the server's worker after the API answers,
so a turn waits until the user's message is routed, nothing runs, and the conversation
has as many bot messages as its executions recorded sends.

`advance_time` cannot move the server's clock; it asks the server to fire the
conversation's timers early (`POST /sandbox/conversations/{id}/skip_wait` with `seconds`:
those due within that long of when they were set). The seconds count from the case's last
user turn or firing, adding up over consecutive `advance_time` steps, as the in-process
FakeClock does: `59m` then `1m` fires a 1-hour timeout on the second step, never early."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from convoflow.testing.driver import DriverError, Reply, Snapshot
from convoflow.testing.local import read_definition
from convoflow.testing.model import Suite
from convoflow.testing.runner import CaseResult

SETTLE_SECONDS = 15.0
POLL_SECONDS = 0.05


class Api:
    def __init__(self, url: str, api_key: str) -> None:
        base = url.rstrip("/")
        if not base.endswith("/platform/v1"):
            base += "/platform/v1"
        self.http = httpx.AsyncClient(base_url=base, headers={"X-API-Key": api_key}, timeout=30.0)

    async def call(self, method: str, path: str, *, quiet: int = 0, **kwargs: Any) -> Any:
        """The answer's JSON; DriverError on an error, except a `quiet` status (None)."""
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise DriverError(f"{method} {self.http.base_url}{path}: {exc!r}") from None
        if response.status_code == quiet:
            return None
        if response.status_code >= 400:
            try:
                detail = response.json().get("error") or response.text
            except ValueError:
                detail = response.text
            raise DriverError(f"{method} {path} answered {response.status_code}: {detail}")
        return response.json() if response.content else None


# A stored suite runs for up to 120 s on the server (testing/stored.py), plus the answer.
STORED_RUN_SECONDS = 150.0


async def run_stored(
    url: str, api_key: str, workflow_ids: list[str], on_result: Any
) -> list[CaseResult]:
    """Run the suites stored with these workflows on the server (`POST /workflows/{id}/
    test_runs`); the server runs them in-process, so the results are the same as here.
    A workflow the server refuses (unknown, no suite) raises DriverError."""
    api = Api(url, api_key)
    results: list[CaseResult] = []
    try:
        for workflow_id in workflow_ids:
            path = f"/workflows/{workflow_id}/test_runs"
            run = (await api.call("POST", path, timeout=STORED_RUN_SECONDS))["data"]
            for case in run["cases"]:
                result = CaseResult(
                    suite=str(run["suite"]),
                    case=str(case["name"]),
                    outcome=str(case["outcome"]),
                    seconds=float(case["seconds"]),
                    step=case["step"],
                    step_text=str(case["step_text"]),
                    lines=[str(line) for line in case["lines"]],
                )
                results.append(result)
                on_result(result)
    finally:
        await api.http.aclose()
    return results


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
        # The workflows this run created are deleted (`?force=true` ends what still waits
        # or is handed off), so runs leave no clutter in the project; a server without
        # DELETE /workflows/{id} gets them archived, which also ends what still waits.
        for workflow_id in self.created:
            path = f"/workflows/{workflow_id}"
            # The results stand whatever happens here.
            with contextlib.suppress(DriverError):
                try:
                    await self.api.call("DELETE", path, params={"force": "true"})
                except DriverError:
                    archived = {"workflow": {"status": "archived"}}
                    await self.api.call("PATCH", path, json=archived)
        await self.api.http.aclose()


class RemoteConversation:
    def __init__(self, api: Api, workflow_id: str, phone: str) -> None:
        self.api = api
        self.workflow_id = workflow_id
        self.phone = phone
        self.execution_id = ""
        self.conversation_id = ""
        self.seen = 0
        # Seconds `advance_time` has passed since the last user turn or timer firing.
        self.idle = 0.0

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
        self.idle = 0.0
        return await self._settle()

    async def send(self, reply: Reply, variables: dict[str, Any] | None) -> list[dict[str, Any]]:
        self.idle = 0.0
        if variables:
            body: dict[str, Any] = {
                "message": {"kind": reply.kind, "data": reply.text},
                "variables": variables,
            }
            path = f"/workflow_executions/{self.execution_id}/resume"
            await self.api.call("POST", path, json=body)
            return await self._settle()
        # An option goes by its id, which the server matches against the last bot message.
        said = {"text": reply.option_id or reply.text}
        path = f"/sandbox/conversations/{self.conversation_id}/messages"
        message_id = (await self.api.call("POST", path, json=said))["data"]["id"]
        return await self._settle(str(message_id) if message_id else None)

    async def advance_time(self, seconds: float) -> list[dict[str, Any]]:
        self.idle += seconds
        path = f"/sandbox/conversations/{self.conversation_id}/skip_wait"
        # 409: nothing waits on a timer; time passing changes nothing, as in-process.
        skipped = await self.api.call("POST", path, json={"seconds": self.idle}, quiet=409)
        if skipped is None or not skipped["data"]["fired"]:
            return []
        self.idle = 0.0
        return await self._settle()

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

    async def _settle(self, inbound_id: str | None = None) -> list[dict[str, Any]]:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            routed = inbound_id is None or await self._routed(inbound_id)
            sends, running = await self._recorded_sends()
            if running:
                # One that runs only to wait out a send_text delay is at rest, as
                # in-process: the delay is a timer that advance_time fires.
                running -= await self._on_timers()
            outbound = await self._outbound()
            if routed and not running and len(outbound) >= sends:
                break
            if time.monotonic() > deadline:
                raise DriverError(
                    f"the server did not settle in {SETTLE_SECONDS:.0f}s: user message routed: "
                    f"{routed}, {sends} sends recorded, {len(outbound)} bot messages, "
                    f"executions running: {sorted(running) or 'none'}"
                )
            await asyncio.sleep(POLL_SECONDS)
        new = outbound[self.seen :]
        self.seen = len(outbound)
        return new

    async def _routed(self, message_id: str) -> bool:
        """The user's message left `pending` (given to the flow, or kept for a human)."""
        params = {"conversation_id": self.conversation_id, "direction": "inbound", "limit": 20}
        page = await self.api.call("GET", "/whatsapp/messages", params=params)
        for message in page.get("data") or []:
            if message.get("id") == message_id:
                return (message.get("kapso") or {}).get("processing_status") != "pending"
        return False

    async def _recorded_sends(self) -> tuple[int, set[str]]:
        """Sends recorded by the conversation's executions, and those that still run."""
        listed = await self.api.call(
            "GET", f"/whatsapp/conversations/{self.conversation_id}/flow_executions"
        )
        sends, running = 0, set()
        for execution in listed.get("data") or []:
            detail = await self._detail(str(execution["id"]))
            if detail.get("status") == "running":
                running.add(str(execution["id"]))
            sends += sum(
                1
                for event in detail.get("events") or []
                if event.get("event_type") == "action_performed"
                and (event.get("payload") or {}).get("action") == "send_message"
            )
        return sends, running

    async def _on_timers(self) -> set[str]:
        """The executions of the conversation that have a pending timer."""
        path = f"/sandbox/conversations/{self.conversation_id}/timers"
        return {str(timer["execution_id"]) for timer in (await self.api.call("GET", path))["data"]}

    async def _outbound(self) -> list[dict[str, Any]]:
        """The conversation's bot messages, oldest first, in the engine's shape."""
        path = f"/sandbox/conversations/{self.conversation_id}/messages"
        rows = (await self.api.call("GET", path))["data"]
        return [dict(row["content"]) for row in rows if row.get("direction") == "outbound"]
