"""`convoflow chat FLOW.json`: talk to a flow in the terminal (sandbox channel, real
engine and database). Reads one user message per line from stdin, so it also runs
scripted: `printf '42\n' | convoflow chat flow.json`."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer

from convoflow.cli.app import app, secret_cipher
from convoflow.cli.flows import read_flow_file
from convoflow.cli.suites import PROVIDER_MODEL_HELP, provider_model_option
from convoflow.engine import status as st
from convoflow.graph.validation import validate_definition
from convoflow.process import Process, build_process
from convoflow.services.ai import provider_models
from convoflow.services.common import Actor
from convoflow.services.conversations import sandbox
from convoflow.store.cipher import SecretCipher, new_key
from convoflow.store.migrate import upgrade
from convoflow.testing.local import model_fields
from convoflow.testing.model import ProviderModelSpec


def render_bot_message(message: dict[str, Any]) -> str:
    """One line per bot message; interactive options in brackets."""
    kind = message.get("type")
    if kind == "text":
        body = str(message.get("text", ""))
    elif kind == "template":
        template = message.get("template") or {}
        body = f"[template {template.get('name') or template.get('id')}]"
        if template.get("parameters"):
            body += " " + json.dumps(template["parameters"], ensure_ascii=False)
    elif kind == "interactive":
        body = _render_interactive(message.get("interactive") or {})
    else:
        body = json.dumps(message, ensure_ascii=False)
    return "bot> " + body.replace("\r", "").replace("\n", "\\n")


def _render_interactive(interactive: dict[str, Any]) -> str:
    parts = [str(interactive.get("header_text") or ""), str(interactive.get("body_text") or "")]
    text = " ".join(p for p in parts if p)
    kind = interactive.get("interactive_type")
    if interactive.get("buttons"):
        titles = " | ".join(str(b.get("title")) for b in interactive["buttons"])
        text += f" [buttons: {titles}]"
    if interactive.get("list_sections"):
        rows = [
            str(r.get("title")) for s in interactive["list_sections"] for r in s.get("rows", [])
        ]
        text += f" [list {interactive.get('list_button_text') or ''}: {' | '.join(rows)}]"
    if kind == "cta_url":
        text += f" [link {interactive.get('cta_display_text')}: {interactive.get('cta_url')}]"
    if kind == "location_request_message":
        text += " [share location]"
    if kind == "flow":
        text += f" [flow {interactive.get('flow_cta') or interactive.get('flow_id')}]"
    return text


def render_state(current: dict[str, Any]) -> str:
    status = current["status"]
    if status == st.FAILED:
        reason = (current.get("error_details") or {}).get("message", "unknown error")
        return f"[failed: {reason}]"
    return f"[{status}]"


def parse_vars(pairs: list[str]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--var expects key=value, got {pair!r}")
        variables[key.strip()] = value
    return variables


class ChatSession:
    def __init__(self, engine: Process, conversation_id: str) -> None:
        self.engine = engine
        self.conversation_id = conversation_id
        self.seen = 0
        self.last_bot: dict[str, Any] | None = None
        self.last_state: tuple[Any, ...] | None = None

    async def settle(self) -> None:
        """Run the worker until the execution waits, ends, fails or hands off."""
        while True:
            await self.engine.worker.drain()
            latest = await sandbox.latest_execution(self.engine, self.conversation_id)
            await self.print_new_messages()
            if latest is None:
                return
            current = latest["current"]
            if current["status"] == st.RUNNING:
                await asyncio.sleep(0.05)  # a delay timer or an external call is pending
                continue
            state = (current["id"], current["status"], current["event_seq"])
            if state != self.last_state:
                self.last_state = state
                typer.echo(render_state(current))
            return

    async def print_new_messages(self) -> None:
        for message in await sandbox.outbound_since(self.engine, self.conversation_id, self.seen):
            self.seen += 1
            self.last_bot = message
            typer.echo(render_bot_message(message))
        sys.stdout.flush()


async def _provider_models(
    engine: Process, project_id: str, models: list[ProviderModelSpec]
) -> None:
    """The `--provider-model`s made in the chat's project, which may reach a local model
    server or the fake LLM on loopback (the throwaway database only: `chat` refuses them
    with `--database-url`)."""
    if not models:
        return
    actor = Actor(project_id=project_id)
    await provider_models.allow_private_network(engine, actor)
    for spec in models:
        await provider_models.ensure(engine, actor, model_fields(spec))


async def _chat(
    url: str,
    name: str,
    definition: Any,
    variables: dict[str, Any],
    cipher: SecretCipher,
    models: list[ProviderModelSpec],
) -> None:
    await asyncio.to_thread(upgrade, url, cipher=cipher)
    engine = build_process(url, cipher=cipher)
    try:
        project_id, workflow_id = await sandbox.create_sandbox_workflow(engine, name, definition)
        await _provider_models(engine, project_id, models)
        conversation_id = await sandbox.open_conversation(
            engine, project_id=project_id, workflow_id=workflow_id
        )
        session = ChatSession(engine, conversation_id)
        await sandbox.start(engine, conversation_id, variables)
        await session.settle()
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            text = line.rstrip("\n")
            if not text.strip():
                continue
            await sandbox.say(engine, conversation_id, text, last_bot_message=session.last_bot)
            await session.settle()
    finally:
        await engine.close()


@app.command()
def chat(
    flow: Path = typer.Argument(..., help="FLOW.json: {nodes, edges} or {name, definition}"),
    var: list[str] = typer.Option([], "--var", help="start variable key=value (repeatable)"),
    database: str | None = typer.Option(
        None, "--database-url", help="default: a throwaway SQLite file for this chat"
    ),
    provider_model: list[str] = typer.Option(
        None, "--provider-model", metavar="name=N,base_url=URL,...", help=PROVIDER_MODEL_HELP
    ),
) -> None:
    """Chat with a flow: bot messages print as `bot> ...`, you type the user's replies."""
    name, _, definition = read_flow_file(flow)
    report = validate_definition(definition)
    if not report.valid:
        for problem in report.errors:
            typer.echo(
                f"error [{problem.code}] {problem.node_id or ''} {problem.message}", err=True
            )
        raise typer.Exit(1)
    variables = parse_vars(var)
    models = provider_model_option(provider_model)
    if database:
        if models:
            # Making them would also let that database's "sandbox" project (a real one,
            # maybe) call private addresses: only the throwaway database gets that.
            raise typer.BadParameter(
                "only with the throwaway database: a database's provider models are its own"
                " (convoflow providers add, or the API)",
                param_hint="--provider-model",
            )
        cipher = secret_cipher(database, create_key_file=True)
        asyncio.run(_chat(database, name or flow.stem, definition, variables, cipher, []))
        return
    with tempfile.TemporaryDirectory(prefix="convoflow-chat-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'chat.db'}"
        # A key of its own: the throwaway database and its secrets die with the chat.
        cipher = SecretCipher([new_key()])
        asyncio.run(_chat(url, name or flow.stem, definition, variables, cipher, models))
