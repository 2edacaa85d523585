"""Compiled definitions by version id. Versions are immutable, so caching is safe."""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.graph.compiled import CompiledGraph, compile_definition
from convoflow.store import workflows as workflow_store


class UnknownVersion(Exception):
    pass


class GraphCache:
    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self._graphs: OrderedDict[str, CompiledGraph] = OrderedDict()

    async def get(self, conn: AsyncConnection, version_id: str) -> CompiledGraph:
        graph = self._graphs.get(version_id)
        if graph is not None:
            self._graphs.move_to_end(version_id)
            return graph
        definition = await workflow_store.get_version_definition(conn, version_id)
        if definition is None:
            raise UnknownVersion(f"workflow version {version_id} does not exist")
        graph = compile_definition(definition)
        self._graphs[version_id] = graph
        if len(self._graphs) > self._capacity:
            self._graphs.popitem(last=False)
        return graph
