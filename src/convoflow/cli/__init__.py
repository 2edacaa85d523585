"""`convoflow` command line: one Typer app; each command group in its own module."""

from __future__ import annotations

import sys

from convoflow.cli import (  # noqa: F401  (imported to add their commands to `app`)
    admin,
    chat,
    fake_llm,
    fake_meta,
    flows,
    phone_numbers,
    providers,
    secrets,
    serve,
    suites,
)
from convoflow.cli.app import app
from convoflow.store.cipher import SecretKeyError


def main() -> None:
    from convoflow.config import get_settings
    from convoflow.observability.logs import configure_logging

    # Once for the whole process, before any command logs (CliRunner tests call `app`
    # and keep the test process's logging as it is).
    settings = get_settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    try:
        app()
    except SecretKeyError as exc:
        # A configuration problem, not a bug: its reason, without a traceback.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


__all__ = ["app", "main"]
