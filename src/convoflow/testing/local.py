"""The in-process driver: the real engine on a throwaway SQLite database, the sandbox
channel, and a FakeClock that only `advance_time` moves, so a 24-hour wait times out in
milliseconds and the same suite gives the same result on every run."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from convoflow.clock import FakeClock
from convoflow.config import Settings
from convoflow.engine import status as st
from convoflow.engine.signals import UserInput
from convoflow.graph.models import load_flow_document
from convoflow.graph.validation import validate_definition
from convoflow.process import Process, build_process
from convoflow.services.ai import provider_models
from convoflow.services.common import Actor, ServiceError
from convoflow.services.conversations import sandbox
from convoflow.services.executions import commands
from convoflow.store.cipher import SecretCipher, new_key
from convoflow.store.migrate import copy_sqlite_file, upgrade
from convoflow.testing.driver import DriverError, Reply, Snapshot
from convoflow.testing.model import ProviderModelSpec, Suite

PROJECT = "convoflow-test"


def migrated_template(folder: Path) -> Path:
    """An empty database at `folder`/template.db, migrated to the newest revision."""
    path = folder / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}", cipher=SecretCipher([new_key()]))
    return path


def read_definition(path: Path) -> tuple[str | None, Any]:
    """(name, definition) of a flow file, or DriverError saying what is wrong with it."""
    import json

    try:
        name, _, definition = load_flow_document(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise DriverError(f"cannot read the flow {path}: {exc}") from None
    check_definition(definition, f"the flow {path}")
    return name, definition


def model_fields(spec: ProviderModelSpec) -> provider_models.ModelFields:
    return provider_models.ModelFields(
        name=spec.name,
        provider=spec.provider,
        base_url=spec.base_url,
        model=spec.model or spec.name,
        api_key=spec.api_key,
    )


def check_definition(definition: Any, label: str) -> None:
    """DriverError listing the problems of an invalid definition (every case errors)."""
    report = validate_definition(definition)
    if not report.valid:
        problems = "; ".join(
            f"[{p.code}] {('node ' + repr(p.node_id) + ': ') if p.node_id else ''}{p.message}"
            for p in report.errors
        )
        raise DriverError(f"{label} is not valid: {problems}")


class LocalDriver:
    name = "in-process (throwaway SQLite, sandbox channel)"

    def __init__(
        self,
        settings: Settings | None = None,
        template: Path | None = None,
        *,
        provider_models: Sequence[ProviderModelSpec] = (),
        allow_private_network: bool = False,
    ) -> None:
        # The server's settings when it runs a stored suite (its SSRF policy, limits);
        # definitions are then checked in this process, not in worker processes of
        # the run's own. `template`: an empty database already migrated, copied instead
        # of migrating a new one (most of a short run's time). `provider_models` (the
        # command line's) are made in the run's project beside each suite's own, over
        # them when named alike; `allow_private_network` lets that project reach a model
        # on loopback (the CLI's runs; never a server's stored runs).
        self.settings = settings
        self.template = template
        self.provider_models = tuple(provider_models)
        self.allow_private_network = allow_private_network
        self._tmp = tempfile.TemporaryDirectory(prefix="convoflow-test-")
        self.path = Path(self._tmp.name) / "suites.db"
        self.url = f"sqlite+aiosqlite:///{self.path}"
        # Starts at the real time (timestamps look sensible), then moves only when told.
        self.clock = FakeClock(datetime.now(UTC))
        self._engine: Process | None = None
        self._project_id: str | None = None
        self._count = 0

    async def _open(self) -> Process:
        if self._engine is None:
            # A key of its own: the database and its secrets die with the run.
            cipher = SecretCipher([new_key()])
            if self.template is not None:  # empty: no secret in it to be sealed by a key
                await asyncio.to_thread(copy_sqlite_file, self.template, self.path)
            else:
                await asyncio.to_thread(upgrade, self.url, cipher=cipher)
            self._engine = build_process(
                self.url, clock=self.clock, cipher=cipher, settings=self.settings
            )
        return self._engine

    async def prepare(self, suite: Suite) -> str:
        if suite.definition is not None:  # stored with its workflow (a server's test run)
            check_definition(suite.definition, "the workflow's definition")
            name, definition = suite.name, suite.definition
        elif suite.flow_path is None:
            raise DriverError(
                "this suite names only a workflow_id, which exists on a server: run it with "
                "--url (and --api-key), or give `flow: FILE.json`"
            )
        else:
            file_name, definition = read_definition(suite.flow_path)
            name = file_name or suite.flow_path.stem
        engine = await self._open()
        await self._called_flows(engine, suite)
        self._project_id, workflow_id = await sandbox.create_sandbox_workflow(
            engine, name, definition, project=PROJECT
        )
        await self._provider_models(engine, suite)
        return workflow_id

    async def _called_flows(self, engine: Process, suite: Suite) -> None:
        """The flows the suite's flow calls (`flows:`), as active workflows of the run's
        project under the ids the `call` nodes name."""
        for workflow_id, path in suite.called_flows:
            file_name, definition = read_definition(path)
            await sandbox.create_sandbox_workflow(
                engine,
                file_name or path.stem,
                definition,
                project=PROJECT,
                workflow_id=workflow_id,
            )

    async def _provider_models(self, engine: Process, suite: Suite) -> None:
        specs = {m.name: m for m in (*suite.provider_models, *self.provider_models)}
        if not specs:
            return
        assert self._project_id is not None
        actor = Actor(project_id=self._project_id)
        if self.allow_private_network:
            await provider_models.allow_private_network(engine, actor)
        for spec in specs.values():
            try:
                await provider_models.ensure(engine, actor, model_fields(spec))
            except ServiceError as exc:
                raise DriverError(f"provider model {spec.name!r}: {exc}") from None

    async def conversation(self, flow: str) -> LocalConversation:
        engine = await self._open()
        assert self._project_id is not None, "prepare() comes first"
        self._count += 1
        conversation_id = await sandbox.open_conversation(
            engine, project_id=self._project_id, workflow_id=flow, user=f"test-user-{self._count}"
        )
        return LocalConversation(engine, self.clock, self._project_id, conversation_id)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.close()
            self._engine = None
        self._tmp.cleanup()


class LocalConversation:
    def __init__(
        self, engine: Process, clock: FakeClock, project_id: str, conversation_id: str
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.project_id = project_id
        self.conversation_id = conversation_id
        self.seen = 0
        self.last_bot: dict[str, Any] | None = None

    async def _settle(self) -> list[dict[str, Any]]:
        # Everything due now runs (routing, sends, webhook calls); the FakeClock makes
        # nothing else due until advance_time, so one drain reaches a stable point.
        await self.engine.worker.drain()
        new = await sandbox.outbound_since(self.engine, self.conversation_id, self.seen)
        self.seen += len(new)
        if new:
            self.last_bot = new[-1]
        return new

    async def start(self, variables: dict[str, Any]) -> list[dict[str, Any]]:
        await sandbox.start(self.engine, self.conversation_id, variables or None)
        return await self._settle()

    async def send(self, reply: Reply, variables: dict[str, Any] | None) -> list[dict[str, Any]]:
        # A tapped option goes by its id; sandbox.user_message turns it into WhatsApp's
        # interactive reply (input = the option's title), as the console's chat does.
        wire = reply.option_id if reply.option_id is not None else reply.text
        last = self.last_bot if reply.option_id is not None else None
        if not variables:
            await sandbox.say(self.engine, self.conversation_id, wire, last_bot_message=last)
            return await self._settle()
        # Variables ride with the input, as on the API's resume (the routed path has no
        # place for them).
        latest = await sandbox.latest_execution(self.engine, self.conversation_id)
        if latest is None:
            raise DriverError("set_vars: the conversation has no execution")
        message = sandbox.user_message(wire, last)
        user_input = UserInput(
            value=message["input"], message=message, variables=variables, source="sandbox"
        )
        try:
            await commands.resume(
                self.engine,
                Actor(project_id=self.project_id),
                str(latest["root"]["id"]),
                user_input,
            )
        except ServiceError as exc:
            raise DriverError(str(exc)) from None
        return await self._settle()

    async def advance_time(self, seconds: float) -> list[dict[str, Any]]:
        self.clock.advance(seconds)
        return await self._settle()

    async def snapshot(self) -> Snapshot:
        latest = await sandbox.latest_execution(self.engine, self.conversation_id)
        if latest is None:
            return Snapshot(status="none", variables={})
        current = latest["current"]
        error = None
        if current["status"] == st.FAILED:
            error = str((current.get("error_details") or {}).get("message") or "unknown error")
        variables = dict((current.get("context") or {}).get("vars") or {})
        return Snapshot(status=str(current["status"]), variables=variables, error=error)
