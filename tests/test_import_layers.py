"""Imports run down the layers of docs/architecture.md, and modules import no loop.

The graph is read from the source (AST), TYPE_CHECKING imports included: a type-only
import that runs upward is still a dependency a reader must follow, and the loop it closes
(`process → services/whatsapp/setup → inbound → phone_numbers → process`, issue 9) is what
this test was written against.
"""

from __future__ import annotations

import ast
from pathlib import Path

import convoflow
from convoflow.graph.lints import _strongly_connected

PACKAGE = Path(convoflow.__file__).parent

# Each top-level part of convoflow and its layer: a module may import only what is in a
# lower layer (or its own part). `<root>` is convoflow/__init__.py (the version).
LAYERS: dict[str, int] = {
    "<root>": 0,
    "clock": 0,
    "config": 0,
    "ids": 0,
    "json_input": 0,
    "graph": 1,  # pure: nothing below it but the leaves
    "store": 1,
    "channels": 1,
    "observability": 2,
    "fakes": 2,
    "engine": 3,
    "services": 4,
    "process": 5,  # the composition root
    "testing": 6,  # `convoflow test`'s runner: builds a process, or calls a server's API
    "api": 7,  # above testing: it runs a workflow's stored suite (testing/stored.py)
    "cli": 8,
    "__main__": 9,
}

# Loops between modules of one part that are still to break (none: the engine's step loop
# sees its runtime and advance through engine/ports.py); it may only stay empty.
KNOWN_LOOPS: list[set[str]] = []


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _known(modules: dict[str, Path], dotted: str) -> str | None:
    """The module (or package) of ours that `dotted` (relative to convoflow) names."""
    while dotted and dotted not in modules:
        dotted = dotted.rpartition(".")[0]
    return dotted if dotted in modules else None


def _targets(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - node.level + 1]
                source = ".".join(["convoflow", *base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            names = [f"{source}.{alias.name}" for alias in node.names] or [source]
        for name in names:
            if name == "convoflow" or name.startswith("convoflow."):
                target = _known(modules, name.removeprefix("convoflow").lstrip("."))
                if target is not None and target != module:
                    found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {module: _targets(module, path, modules) for module, path in modules.items()}


def _part(module: str) -> str:
    return module.split(".")[0] if module else "<root>"


def _loops(graph: dict[str, set[str]]) -> list[set[str]]:
    """Groups of more than one module that reach each other (the flow lint's Tarjan)."""
    ordered = {module: sorted(targets) for module, targets in graph.items()}
    return [set(group) for group in _strongly_connected(ordered) if len(group) > 1]


def test_every_part_has_a_layer() -> None:
    assert {_part(module) for module in import_graph()} == set(LAYERS)


def test_imports_run_down_the_layers() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if _part(target) != _part(module) and LAYERS[_part(target)] >= LAYERS[_part(module)]
    )
    assert upward == [], (
        "a module may import only from a lower layer (docs/architecture.md: Layers); pass "
        f"what it needs in at construction or define it lower: {upward}"
    )


def test_the_engine_is_channel_neutral() -> None:
    """The engine sends through `channels/base.Channel` and records through channel-neutral
    store modules (`store/outbox`, `store/receipts`); what is WhatsApp's reaches it only
    through what `build_process` gives it."""
    channel_specific = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if _part(module) == "engine"
        for target in targets
        if "whatsapp" in target
    )
    assert channel_specific == [], channel_specific


DATABASE_DRIVERS = ("sqlite3", "aiosqlite", "asyncpg", "psycopg", "psycopg2")


def test_database_drivers_are_used_only_in_store() -> None:
    """SQL lives in store/ (docs/architecture.md): a driver imported elsewhere is database
    access that skips its dialects (testing/local.py copied SQLite files with sqlite3; the
    engine's notifier opened its LISTEN connection with asyncpg). No exceptions."""
    outside = sorted(
        f"{module} imports {alias.name}"
        for module, path in _modules().items()
        if _part(module) != "store"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
        if not getattr(node, "level", 0) and alias.name.split(".")[0] in DATABASE_DRIVERS
    )
    assert outside == [], f"database drivers imported outside store/: {outside}"


def test_no_import_loops_between_modules() -> None:
    loops = _loops(import_graph())
    unexpected = [sorted(loop) for loop in loops if loop not in KNOWN_LOOPS]
    assert unexpected == [], f"modules importing each other (TYPE_CHECKING too): {unexpected}"
    # A loop broken leaves KNOWN_LOOPS, so it cannot quietly come back.
    assert all(loop in loops for loop in KNOWN_LOOPS), "remove the broken loop from KNOWN_LOOPS"


def test_the_scan_sees_a_loop() -> None:
    """The scan itself: a type-only import that closes a loop is found."""
    graph = import_graph()
    graph["services.whatsapp.phone_numbers"] = graph["services.whatsapp.phone_numbers"] | {
        "process"
    }
    looped = [loop for loop in _loops(graph) if "process" in loop]
    assert looped and "services.whatsapp.phone_numbers" in looped[0]
