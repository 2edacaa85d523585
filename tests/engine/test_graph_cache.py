"""The graph cache is bounded by the size of what it keeps (nodes + edges), not only by
the number of versions: 2 MB graphs are tens of thousands of objects each."""

from __future__ import annotations

from convoflow.engine.cpu import CpuPool
from convoflow.engine.graphs import Checked, GraphCache, checked_entry, compile_entry
from convoflow.graph.problems import ValidationReport
from tests.support import chain, node


def graph(nodes: int) -> object:
    steps = [node("start", "start")]
    steps += [node(f"say_{i}", "send_text", message="hi") for i in range(nodes - 1)]
    return compile_entry(chain(*steps))


def test_the_least_recently_used_graphs_go_when_the_items_pass_the_limit() -> None:
    cache = GraphCache(CpuPool(0), max_items=100)
    cache.put("a", graph(20))  # 20 nodes + 19 edges + 1
    cache.put("b", graph(20))
    assert "a" in cache and "b" in cache
    cache.put("c", graph(30))  # 40 + 40 + 60 > 100: "a", the oldest, goes
    assert "a" not in cache and "b" in cache and "c" in cache


def test_a_graph_over_the_limit_alone_is_still_kept() -> None:
    cache = GraphCache(CpuPool(0), max_items=10)
    cache.put("a", graph(3))
    cache.put("big", graph(50))
    assert "big" in cache and "a" not in cache


def test_the_count_still_bounds_it() -> None:
    cache = GraphCache(CpuPool(0), capacity=2)
    for version in "abc":
        cache.put(version, graph(2))
    assert "a" not in cache and "b" in cache and "c" in cache


def test_a_worker_process_sends_back_whether_it_compiles_not_the_graph() -> None:
    valid = chain(node("start", "start"), node("say", "send_text", message="hi"))
    assert checked_entry(valid) == Checked(tuple(compile_entry(valid).warnings))
    invalid = {"nodes": [node("say", "send_text", message="hi")], "edges": []}
    report = checked_entry(invalid)
    assert isinstance(report, ValidationReport) and not report.valid
