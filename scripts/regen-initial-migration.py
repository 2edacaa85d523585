"""Regenerate store/migrations/versions/0001_initial_schema.py from store/schema.py.

Only while nothing is released: once a database exists in the wild, schema changes get
a new migration (`alembic revision --autogenerate`) instead. tests/store/test_migrations.py
fails when the migration and schema.py disagree.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from alembic import command  # noqa: E402

from convoflow.store.migrate import alembic_config  # noqa: E402

TARGET = ROOT / "src/convoflow/store/migrations/versions/0001_initial_schema.py"


def main() -> None:
    TARGET.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = alembic_config(f"sqlite:///{tmp}/empty.db")
        command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
    text = TARGET.read_text().replace("astext_type=Text()", "astext_type=sa.Text()")
    text = (
        "\n".join(line for line in text.splitlines() if not line.startswith("Create Date:")) + "\n"
    )
    TARGET.write_text(text)
    ruff = ROOT / ".venv/bin/ruff"
    subprocess.run([str(ruff), "format", "-q", str(TARGET)], check=True)
    subprocess.run([str(ruff), "check", "--fix", "-q", str(TARGET)], check=True)
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
