"""No module keeps state of a running process (docs/architecture.md: explicit wiring):
what a process holds lives on an object `build_process` builds, so two processes in one
interpreter (tests, a suite run inside a server) never share it.

The scan reads the source (AST) for module-level assignments of an empty mutable
container; `CACHES` names the ones that only memoise a pure function of their keys
(values, not live objects), which any process may share.
"""

from __future__ import annotations

import ast
from pathlib import Path

import convoflow

PACKAGE = Path(convoflow.__file__).parent
_CONTAINERS = {
    "set",
    "dict",
    "list",
    "defaultdict",
    "OrderedDict",
    "deque",
    "WeakKeyDictionary",
    "WeakValueDictionary",
    "WeakSet",
}
CACHES = {
    "observability/logs.py: _KEY_VERDICTS",  # a log key's redaction verdict, by name
    "store/execution_queries.py: _SUMMARY_SELECTS",  # statements built per column choice
    "store/execution_queries.py: _EXECUTION_PAGES",
}


def _is_empty_container(value: ast.expr) -> bool:
    if isinstance(value, ast.Set | ast.List):
        return not value.elts
    if isinstance(value, ast.Dict):
        return not value.keys
    if isinstance(value, ast.Call):
        func = value.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        return name in _CONTAINERS
    return False


def module_state(source: str, rel: str) -> set[str]:
    found: set[str] = set()
    for node in ast.parse(source).body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if value is None or not _is_empty_container(value):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        found |= {f"{rel}: {ast.unparse(target)}" for target in targets}
    return found


def test_no_module_keeps_process_state() -> None:
    found: set[str] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        found |= module_state(path.read_text(), path.relative_to(PACKAGE).as_posix())
    assert found - CACHES == set(), (
        "module-level mutable state: make it an attribute of an object build_process builds"
    )
    assert found >= CACHES, "remove the entries of CACHES that are gone"


def test_the_scan_sees_module_state() -> None:
    source = "_resuming: set[str] = set()\n_BY_ADVANCE = weakref.WeakKeyDictionary()\nX = {1}\n"
    assert module_state(source, "m.py") == {"m.py: _resuming", "m.py: _BY_ADVANCE"}
