"""call: child executions on the same conversation, vars merged back, errors saved,
cycle detection and the depth limit."""

from __future__ import annotations

from convoflow.store.schema import executions
from tests.support import (
    Chat,
    chain,
    events,
    join_chat,
    make_project,
    make_workflow,
    new_version,
    node,
    table_rows,
)


async def test_child_runs_and_its_vars_are_merged_back(engine):
    project_id = await make_project(engine)
    child_id = await make_workflow(
        engine,
        project_id,
        chain(
            node("start", "start"),
            node("hello", "send_text", message="child sees {{vars.who}}"),
            node("set", "set_variable", variable_name="from_child", variable_value="x"),
        ),
        name="child",
    )
    parent = chain(
        node("start", "start"),
        node("call", "call", workflow_id=child_id),
        node("after", "send_text", message="parent sees {{vars.from_child}}"),
    )
    chat = await Chat.open(engine, parent, project_id=project_id, variables={"who": "Ana"})
    assert await chat.texts() == ["child sees Ana", "parent sees x"]
    root = await chat.root()
    assert root["status"] == "ended"
    assert root["context"]["vars"]["from_child"] == "x"
    [child] = await table_rows(engine, executions, parent_execution_id=root["id"])
    assert child["status"] == "ended"
    assert child["workflow_id"] == child_id
    assert child["conversation_id"] == chat.conversation_id
    assert child["depth"] == 1
    assert child["context"]["system"]["call_stack"] == [chat.workflow_id, child_id]
    merged = [e for e in await events(engine, root["id"]) if e["event_type"] == "variables_merged"]
    assert merged[0]["payload"]["child_execution_id"] == child["id"]
    assert "from_child" in merged[0]["payload"]["variables"]


async def test_child_waiting_for_input_gets_the_replies_then_parent_continues(engine):
    project_id = await make_project(engine)
    child_id = await make_workflow(
        engine,
        project_id,
        chain(
            node("start", "start"),
            node("ask", "send_text", message="favourite colour?"),
            node("wait", "wait_for_response", save_response_to="colour"),
            node("thanks", "send_text", message="child got {{vars.colour}}"),
        ),
        name="child",
    )
    parent = chain(
        node("start", "start"),
        node("call", "call", workflow_id=child_id),
        node("after", "send_text", message="parent got {{vars.colour}}"),
        node("wait", "wait_for_response", save_response_to="last"),
        node("bye", "send_text", message="parent heard {{vars.last}}"),
    )
    chat = await Chat.open(engine, parent, project_id=project_id)
    assert await chat.texts() == ["favourite colour?"]
    root = await chat.root()
    assert (root["status"], root["waiting_reason"]) == ("waiting", "call_workflow")
    child = await chat.execution()
    assert child["parent_execution_id"] == root["id"]
    assert (child["status"], child["waiting_reason"]) == ("waiting", "wait_for_response")

    assert [m["text"] for m in await chat.say("blue")] == ["child got blue", "parent got blue"]
    child = (await table_rows(engine, executions, id=child["id"]))[0]
    assert child["status"] == "ended"
    assert child["context"]["vars"]["colour"] == "blue"
    root = await chat.root()
    assert (root["status"], root["current_node_id"]) == ("waiting", "wait")

    assert [m["text"] for m in await chat.say("bye")] == ["parent heard bye"]
    assert (await chat.root())["status"] == "ended"


async def call_saving_the_error(engine, project_id: str, child_id: str) -> dict:
    """Run a parent that calls `child_id` with save_error_to and then goes on; its root
    execution, checked to have gone on."""
    parent = chain(
        node("start", "start"),
        node("call", "call", workflow_id=child_id, save_error_to="child_error"),
        node("after", "send_text", message="parent goes on"),
    )
    chat = await Chat.open(engine, parent, project_id=project_id)
    assert await chat.texts() == ["parent goes on"]
    root = await chat.root()
    assert root["status"] == "ended"
    return root


async def test_child_failure_is_saved_and_the_parent_continues(engine):
    project_id = await make_project(engine)
    child_id = await make_workflow(
        engine,
        project_id,
        chain(node("start", "start"), node("bot", "agent", system_prompt="hi")),
        name="failing child",
    )
    root = await call_saving_the_error(engine, project_id, child_id)
    error = root["context"]["vars"]["child_error"]
    assert "no provider model configured" in error["error"]
    assert error["workflow_id"] == child_id
    assert error["workflow_name"] == "failing child"
    [child] = await table_rows(engine, executions, parent_execution_id=root["id"])
    assert child["status"] == "failed"


async def test_calling_a_draft_with_problems_is_refused_and_the_caller_continues(engine):
    """A draft may hold an invalid graph; a call never runs it."""
    project_id = await make_project(engine)
    dangling = {
        "nodes": [node("start", "start")],
        "edges": [{"source": "start", "target": "send_text_1"}],
    }
    child_id = await make_workflow(engine, project_id, dangling, name="draft", status="draft")
    root = await call_saving_the_error(engine, project_id, child_id)
    error = root["context"]["vars"]["child_error"]
    assert "invalid definition" in error["error"] and "send_text_1" in error["error"]
    assert await table_rows(engine, executions, parent_execution_id=root["id"]) == []


async def test_call_cycle_is_refused_and_the_caller_continues(engine):
    project_id = await make_project(engine)
    placeholder = chain(node("start", "start"), node("x", "send_text", message="x"))
    a_id = await make_workflow(engine, project_id, placeholder, name="A")
    b_id = await make_workflow(
        engine,
        project_id,
        chain(
            node("start", "start"),
            node("in_b", "send_text", message="in B"),
            node("call_a", "call", workflow_id=a_id, save_error_to="cycle_error"),
            node("b_after", "send_text", message="B continues"),
        ),
        name="B",
    )
    await new_version(
        engine,
        a_id,
        chain(
            node("start", "start"),
            node("call_b", "call", workflow_id=b_id),
            node("a_after", "send_text", message="A continues"),
        ),
    )
    chat = await join_chat(engine, project_id, a_id)
    assert await chat.texts() == ["in B", "B continues", "A continues"]
    root = await chat.root()
    assert root["status"] == "ended"
    error = root["context"]["vars"]["cycle_error"]  # set in B, merged back into A
    assert "call cycle detected" in error["error"]
    assert error["call_stack"] == [a_id, b_id]
    [b_execution] = await table_rows(engine, executions, parent_execution_id=root["id"])
    assert b_execution["status"] == "ended"
    assert await table_rows(engine, executions, parent_execution_id=b_execution["id"]) == []


async def test_call_depth_is_limited_to_ten(engine):
    project_id = await make_project(engine)
    # w11 is a plain flow; w10 calls w11, w9 calls w10, ..., w0 calls w1.
    ids: dict[int, str] = {}
    ids[11] = await make_workflow(
        engine,
        project_id,
        chain(node("start", "start"), node("deep", "send_text", message="too deep")),
        name="w11",
    )
    for level in range(10, -1, -1):
        ids[level] = await make_workflow(
            engine,
            project_id,
            chain(
                node("start", "start"),
                node("call", "call", workflow_id=ids[level + 1], save_error_to="depth_error"),
                node(
                    "mark",
                    "set_variable",
                    variable_name=f"level_{level}",
                    variable_value="done",
                ),
            ),
            name=f"w{level}",
        )
    chat = await join_chat(engine, project_id, ids[0])
    assert await chat.texts() == []  # w11 never ran
    root = await chat.root()
    assert root["status"] == "ended"
    variables = root["context"]["vars"]
    assert "call depth limit 10 exceeded" in variables["depth_error"]["error"]
    assert all(variables[f"level_{level}"] == "done" for level in range(11))
    rows = [r for r in await table_rows(engine, executions) if r["status"] == "ended"]
    assert sorted(r["depth"] for r in rows) == list(range(11))
    assert {r["workflow_id"] for r in rows} == {ids[level] for level in range(11)}


async def test_child_wait_timeout_ends_the_child_and_the_parent_continues(engine, clock):
    project_id = await make_project(engine)
    child_id = await make_workflow(
        engine,
        project_id,
        chain(
            node("start", "start"),
            node("wait", "wait_for_response", has_timeout=True, timeout_seconds=300),
            node("late", "send_text", message="child timed out"),
        ),
        name="child",
    )
    parent = chain(
        node("start", "start"),
        node("call", "call", workflow_id=child_id),
        node("after", "send_text", message="parent resumes"),
    )
    chat = await Chat.open(engine, parent, project_id=project_id)
    assert (await chat.root())["waiting_reason"] == "call_workflow"
    clock.advance(300)
    await engine.worker.drain()
    assert await chat.texts() == ["child timed out", "parent resumes"]
    root = await chat.root()
    assert root["status"] == "ended"
    [child] = await table_rows(engine, executions, parent_execution_id=root["id"])
    assert child["context"]["system"]["last_resume"]["reason"] == "timeout"
