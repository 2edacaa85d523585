"""`convoflow` command line: one Typer app; each command group in its own module."""

from __future__ import annotations

from convoflow.cli.app import app


def main() -> None:
    from convoflow.config import get_settings
    from convoflow.observability.logs import configure_logging

    # Once for the whole process, before any command logs (CliRunner tests call `app`
    # and keep the test process's logging as it is).
    settings = get_settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    app()


__all__ = ["app", "main"]
