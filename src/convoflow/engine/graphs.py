"""Compiled definitions by version id. Versions are immutable, so caching is safe.

A draft may hold a graph that does not compile (docs/api.md): for such a version the
cache keeps its validation report instead, so it is neither run nor compiled again on
every read that shows its problems.

Compiling runs off the event loop (`engine/cpu.py`: a worker process for a large
definition, a thread for a small one): a large definition takes most of a second, and
the event loop must keep serving meanwhile. A compiled graph pickles and could cross
back from a worker process as it is, but unpickling it is tens of thousands of objects in
the server process: most of a large create's GIL time there, with the garbage
collections they set off (BENCHMARKS.md, Limits). So a definition prepared in a worker
process comes back as `Checked` (it compiles, with these warnings) and its graph is
built again off the loop when a run first needs it (`GraphCache.get`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.engine.cpu import CpuPool, definition_items
from convoflow.graph.compiled import CompiledGraph, InvalidDefinition, compile_definition
from convoflow.graph.problems import Problem, ValidationReport
from convoflow.store import workflows as workflow_store


@dataclass(frozen=True)
class Checked:
    """A version known to compile, with these warnings, whose graph is not kept (built on
    first use): a few objects to pickle where the graph is tens of thousands."""

    warnings: tuple[Problem, ...] = ()


Entry = CompiledGraph | ValidationReport | Checked


# Bounded by size as well as by count: a 2,000-node graph is tens of thousands of Python
# objects (memory, and time for every full garbage collection, which pauses the event
# loop); this keeps about 25 of those, or thousands of typical flows.
MAX_CACHED_ITEMS = 100_000


class UnknownVersion(Exception):
    pass


def report_of(entry: Entry) -> ValidationReport:
    if isinstance(entry, ValidationReport):
        return entry
    return ValidationReport(warnings=list(entry.warnings))


def checked_entry(definition: Any) -> Entry:
    """`compile_entry` for a worker process: what it sends back (the report if it has
    errors, else `Checked`), not the graph."""
    entry = compile_entry(definition)
    return Checked(tuple(entry.warnings)) if isinstance(entry, CompiledGraph) else entry


def compile_entry(definition: Any) -> Entry:
    """What the cache keeps for `definition`: its compiled graph, or its report if it has
    errors. CPU-bound (a fifth of a second for 2 MB): call it off the loop (CpuPool)."""
    try:
        return compile_definition(definition)
    except InvalidDefinition as exc:
        return exc.report


class GraphCache:
    def __init__(
        self, cpu: CpuPool, capacity: int = 1024, max_items: int = MAX_CACHED_ITEMS
    ) -> None:
        self._cpu = cpu
        self._capacity = capacity
        self._max_items = max_items
        self._items = 0  # nodes + edges of the graphs kept
        self._entries: OrderedDict[str, Entry] = OrderedDict()

    async def get(self, conn: AsyncConnection, version_id: str) -> CompiledGraph:
        """The compiled graph; InvalidDefinition (with every problem) if it has errors."""
        entry = await self.entry(conn, version_id)
        if isinstance(entry, Checked):  # checked in a worker process: build it now
            entry = await self._add(version_id, await self._definition(conn, version_id))
        if isinstance(entry, ValidationReport | Checked):
            raise InvalidDefinition(report_of(entry))
        return entry

    async def entry(self, conn: AsyncConnection, version_id: str) -> Entry:
        """What is known of the version (compiled and kept on first use): its graph, its
        report if it has errors, or `Checked`. UnknownVersion if there is no such
        version."""
        entry = self._cached(version_id)
        if entry is None:
            entry = await self._add(version_id, await self._definition(conn, version_id))
        return entry

    async def _definition(self, conn: AsyncConnection, version_id: str) -> Any:
        definition = await workflow_store.get_version_definition(conn, version_id)
        if definition is None:
            raise UnknownVersion(f"workflow version {version_id} does not exist")
        return definition

    async def reports(
        self, conn: AsyncConnection, version_ids: Collection[str]
    ) -> dict[str, ValidationReport]:
        """Errors and warnings of each version (unknown versions are left out)."""
        entries = {v: e for v in version_ids if (e := self._cached(v)) is not None}
        missing = [v for v in version_ids if v not in entries]
        for version_id, definition in (
            await workflow_store.get_version_definitions(conn, missing)
        ).items():
            entries[version_id] = await self._add(version_id, definition)
        return {version_id: report_of(entry) for version_id, entry in entries.items()}

    async def report_of_read(self, version_id: str, definition: Any) -> ValidationReport:
        """The problems of a version whose definition the caller has just read (no
        connection held: checking a large one takes most of a second): the kept entry's
        if there is one, else checked off the loop and not kept, so that reading old
        versions does not push the ones that run out of the cache."""
        entry = self._entries.get(version_id)
        if entry is None:
            entry = await self._cpu.run(definition_items(definition), checked_entry, definition)
        return report_of(entry)

    def __contains__(self, version_id: object) -> bool:
        return version_id in self._entries

    def _cached(self, version_id: str) -> Entry | None:
        entry = self._entries.get(version_id)
        if entry is not None:
            self._entries.move_to_end(version_id)
        return entry

    async def _add(self, version_id: str, definition: Any) -> Entry:
        entry = await self._cpu.run(definition_items(definition), compile_entry, definition)
        self.put(version_id, entry)
        return entry

    def put(self, version_id: str, entry: Entry) -> None:
        """Keep `entry` for a version just written (compiled from exactly the definition
        stored), so reading it back does not load and compile 2 MB again."""
        old = self._entries.pop(version_id, None)
        if old is not None:
            self._items -= _weight(old)
        self._entries[version_id] = entry
        self._items += _weight(entry)
        # The least recently used go first; the newest stays even if it alone is over.
        while len(self._entries) > 1 and (
            len(self._entries) > self._capacity or self._items > self._max_items
        ):
            _, evicted = self._entries.popitem(last=False)
            self._items -= _weight(evicted)


def _weight(entry: Entry) -> int:
    if isinstance(entry, ValidationReport | Checked):
        return 1
    return 1 + len(entry.nodes) + len(entry.edges)
