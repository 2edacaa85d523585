"""engine/cpu.py's pool of worker processes: results and domain errors cross the process
boundary as they are, a dead worker costs one call a thread (not every later call a
500), and a shut-down pool still answers (in threads)."""

from __future__ import annotations

import multiprocessing
import os

from convoflow.engine.cpu import CpuPool, definition_items
from convoflow.services.common import Invalid


def where() -> str:
    return "worker" if multiprocessing.parent_process() is not None else "here"


def refuse(message: str) -> None:
    raise Invalid(message, [{"code": "bad", "field": "x", "message": message}])


def die_in_a_worker() -> str:
    if multiprocessing.parent_process() is not None:
        os._exit(1)  # as if killed (out of memory)
    return "here"


async def test_large_work_runs_in_a_worker_process_and_small_work_does_not() -> None:
    pool = CpuPool(1, min_items=10)
    try:
        assert await pool.run(10, where) == "worker"
        assert await pool.run(9, where) == "here"  # a thread of this process
        assert pool.process_calls == 1
    finally:
        pool.shutdown()


async def test_domain_errors_cross_with_their_details() -> None:
    pool = CpuPool(1)
    try:
        try:
            await pool.run_in_process(refuse, "no")
        except Invalid as exc:
            assert exc.message == "no" and exc.details == [
                {"code": "bad", "field": "x", "message": "no"}
            ]
        else:
            raise AssertionError("Invalid was not raised")
    finally:
        pool.shutdown()


async def test_a_dead_worker_costs_one_call_a_thread() -> None:
    pool = CpuPool(1)
    try:
        assert await pool.run_in_process(die_in_a_worker) == "here"
        assert await pool.run_in_process(where) == "worker"  # a new pool
    finally:
        pool.shutdown()


async def test_a_shut_down_pool_answers_in_threads() -> None:
    pool = CpuPool(1)
    pool.shutdown()
    assert await pool.run_in_process(where) == "here" and pool.process_calls == 0
    assert await CpuPool(0).run_in_process(where) == "here"


def test_definition_items_counts_nodes_and_edges() -> None:
    assert definition_items({"nodes": [1, 2], "edges": [3]}) == 3
    assert definition_items({"nodes": "x"}) == 0 and definition_items([1]) == 0
