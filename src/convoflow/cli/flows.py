"""`convoflow validate`: check a flow file offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from convoflow.cli.app import app
from convoflow.graph.models import load_flow_document
from convoflow.graph.problems import Problem
from convoflow.graph.validation import validate_definition


def read_flow_file(path: Path) -> tuple[str | None, str | None, Any]:
    """(name, description, definition) from a bare definition or Kapso's document."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise typer.BadParameter(f"{path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    return load_flow_document(raw)


def _describe(problem: Problem) -> str:
    where = " ".join(
        part
        for part in (
            f"node {problem.node_id!r}" if problem.node_id else "",
            f"field {problem.field}" if problem.field else "",
        )
        if part
    )
    return f"[{problem.code}] {where + ': ' if where else ''}{problem.message}"


@app.command()
def validate(
    flow: Path = typer.Argument(..., help="FLOW.json: {nodes, edges} or {name, definition}"),
    as_json: bool = typer.Option(False, "--json", help="print {valid, errors, warnings}"),
) -> None:
    """Validate a flow definition; exit 0 when valid, 1 when not."""
    _, _, definition = read_flow_file(flow)
    report = validate_definition(definition)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for problem in report.errors:
            typer.echo(f"error   {_describe(problem)}")
        for problem in report.warnings:
            typer.echo(f"warning {_describe(problem)}")
        summary = "valid" if report.valid else "invalid"
        typer.echo(
            f"{flow}: {summary} ({len(report.errors)} errors, {len(report.warnings)} warnings)"
        )
    raise typer.Exit(0 if report.valid else 1)
