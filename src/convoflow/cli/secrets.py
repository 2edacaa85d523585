"""`convoflow secrets new-key|rotate`: the key that encrypts stored secrets."""

from __future__ import annotations

import asyncio

import typer

from convoflow.cli.app import DatabaseOption, app, database_url, secret_cipher

secrets_app = typer.Typer(help="The key that encrypts tokens and secrets in the database.")
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("new-key")
def new_key() -> None:
    """Print a new Fernet key (put it first in CONVOFLOW_SECRET_KEY, then run rotate)."""
    from convoflow.store.cipher import new_key as make_key

    typer.echo(make_key())


@secrets_app.command("rotate")
def rotate(database: str | None = DatabaseOption) -> None:
    """Re-encrypt every stored secret under the newest (first) key. Afterwards the older
    keys can be removed from CONVOFLOW_SECRET_KEY (or the key file)."""
    from convoflow.engine.sealed import SEALED_KINDS, reseal_request
    from convoflow.store.db import Database
    from convoflow.store.secret_columns import rotate_all

    url = database_url(database)
    cipher = secret_cipher(url)

    async def run() -> int:
        db = Database(url, pool_size=1, cipher=cipher)
        try:
            # Headers of MCP, webhook and agent webhook calls are journaled sealed, and so
            # are their urls and bodies naming a project secret.
            journal = {
                kind: lambda request: reseal_request(cipher, request) for kind in SEALED_KINDS
            }
            return await rotate_all(db, cipher, journal)
        finally:
            await db.dispose()

    count = asyncio.run(run())
    typer.echo(
        f"re-encrypted {count} secret value(s) under the newest key; "
        f"the other {cipher.key_count - 1} key(s) can now be removed"
    )
