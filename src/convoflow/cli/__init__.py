"""`convoflow` command line: one Typer app; each command group in its own module."""

from __future__ import annotations

from convoflow.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
