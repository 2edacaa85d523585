"""`convoflow fake-llm`: run the fake LLM provider (OpenAI- and Anthropic-compatible)."""

from __future__ import annotations

from pathlib import Path

import typer

from convoflow.cli.app import app


@app.command("fake-llm")
def fake_llm(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8099, help="port to listen on"),
    script: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="YAML rules: what to answer (docs/ai.md)"
    ),
) -> None:
    """Serve POST /v1/chat/completions (OpenAI) and POST /v1/messages (Anthropic)."""
    import uvicorn
    from pydantic import ValidationError

    from convoflow.fakes.llm.rules import Script
    from convoflow.fakes.llm.server import FakeLLM

    try:
        rules = Script.from_file(script) if script is not None else Script()
    except (ValueError, ValidationError) as exc:
        typer.echo(f"cannot read {script}: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"fake LLM on http://{host}:{port} ({len(rules.rules)} rules): provider base URL "
        f"http://{host}:{port}/v1 (openai) or http://{host}:{port} (anthropic)"
    )
    uvicorn.run(FakeLLM(rules).app, host=host, port=port, log_level="warning")
