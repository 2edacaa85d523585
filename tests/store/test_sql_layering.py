"""All SQL lives in `store/`: no module outside it imports the tables, builds a statement,
or asks which database it runs on (issue 9 item 3).

The scan reads the source (AST), so it catches a new violation before any test runs it.
`PENDING` names the modules still to move, each with what it does; it only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import convoflow

PACKAGE = Path(convoflow.__file__).parent
STATEMENTS = {"select", "insert", "update", "delete"}
DIALECT_ATTRS = {"is_sqlite", "dialect"}
# Outside store/, still to move (none left: routing asks the store's seam, backend.row_locks).
PENDING: dict[str, set[str]] = {}


def _violations(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "convoflow.store.schema":
            found.add("schema")
        elif isinstance(node, ast.ImportFrom) and node.module == "convoflow.store":
            if any(alias.name == "schema" for alias in node.names):
                found.add("schema")
        elif isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy":
            if any(alias.name in STATEMENTS | {"text"} for alias in node.names):
                found.add("statement")
        elif isinstance(node, ast.Import):
            if any(alias.name.startswith("convoflow.store.schema") for alias in node.names):
                found.add("schema")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in {"sa", "sqlalchemy"} and node.attr in STATEMENTS:
                found.add("statement")
            if node.value.id in {"sa", "sqlalchemy"} and node.attr == "text":
                found.add("statement")
        asks_dialect = isinstance(node, ast.Attribute) and node.attr in DIALECT_ATTRS
        names_dialect = isinstance(node, ast.Constant) and node.value in {"sqlite", "postgresql"}
        if asks_dialect or names_dialect:
            found.add("dialect")
    return found


def _outside_store() -> dict[str, set[str]]:
    report: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("store/"):
            continue
        found = _violations(ast.parse(path.read_text(), filename=str(path)))
        if found:
            report[rel] = found
    return report


def test_no_sql_outside_store() -> None:
    report = _outside_store()
    unexpected = {
        rel: found - PENDING.get(rel, set())
        for rel, found in report.items()
        if found - PENDING.get(rel, set())
    }
    assert unexpected == {}, (
        "expected SQL (store.schema tables, sa.select/insert/update/delete/text) and "
        "dialect checks only in convoflow/store/; move these into a named store function "
        f"or the store's dialect seam: {unexpected}"
    )


def test_pending_list_only_shrinks() -> None:
    """A module moved to store/ leaves PENDING, so it cannot quietly regress."""
    report = _outside_store()
    stale = {rel: kinds - report.get(rel, set()) for rel, kinds in PENDING.items()}
    stale = {rel: kinds for rel, kinds in stale.items() if kinds}
    assert stale == {}, f"expected PENDING to list only current violations; remove {stale}"


def test_scan_sees_a_statement() -> None:
    """The scan itself works: each kind of violation is caught."""
    source = (
        "import sqlalchemy as sa\n"
        "from convoflow.store.schema import flows\n"
        "sa.select(flows)\n"
        "if db.is_sqlite: pass\n"
    )
    assert _violations(ast.parse(source)) == {"schema", "statement", "dialect"}
    assert _violations(ast.parse("from sqlalchemy import text\n")) == {"statement"}


def test_the_database_leaves_what_differs_to_the_dialect_seam() -> None:
    """`store/db.py` holds what both databases share; SQLite's writer thread and
    PostgreSQL's fault translation are `store/dialects/`'s (`Dialect.connections`), so
    `Database` never names a database nor asks which one it has."""
    path = PACKAGE / "store" / "db.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    names_a_database = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in {"sqlite", "postgresql", "postgres"}
    ]
    asks_which = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "name"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr in {"backend", "dialect"}
    ]
    assert names_a_database == [] and asks_which == []
