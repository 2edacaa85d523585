"""Creating a child execution for a `call` node (same conversation, copied context)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from convoflow.engine import status as st
from convoflow.engine.signals import ChildFinished
from convoflow.engine.state import ExecutionState
from convoflow.graph.compiled import InvalidDefinition
from convoflow.ids import new_id
from convoflow.store import workflows as workflow_store

if TYPE_CHECKING:
    from convoflow.engine.ports import AdvanceView
    from convoflow.graph.compiled import CompiledNode

MAX_CALL_DEPTH = 10


def _refused(parent: ExecutionState, workflow_id: str, name: str, message: str) -> ChildFinished:
    stack = list(parent.system.get("call_stack") or [parent.workflow_id])
    return ChildFinished(
        child_id="",
        status=st.FAILED,
        vars={},
        error={
            "error": message,
            "workflow_id": workflow_id,
            "workflow_name": name,
            "call_stack": stack,
        },
        workflow_id=workflow_id,
        workflow_name=name,
    )


async def create_child(
    adv: AdvanceView, parent: ExecutionState, node: CompiledNode, workflow_id: str
) -> ExecutionState | ChildFinished:
    """A new child execution, tracked by `adv` and not yet run; or, when the call cannot
    start (unknown workflow, cycle, too deep), the failure the call step will record."""
    workflow = await workflow_store.get_workflow(
        adv.conn, workflow_id, project_id=parent.project_id
    )
    if workflow is None:
        return _refused(parent, workflow_id, "", f"workflow {workflow_id} not found in project")
    name = str(workflow["name"])
    if workflow["current_version_id"] is None:
        return _refused(parent, workflow_id, name, f"workflow {name!r} has no definition")
    if workflow["status"] == "archived":
        return _refused(parent, workflow_id, name, f"workflow {name!r} is archived")
    stack = list(parent.system.get("call_stack") or [parent.workflow_id])
    if workflow_id in stack:
        path = " -> ".join([*stack, workflow_id])
        return _refused(parent, workflow_id, name, f"call cycle detected: {path}")
    if parent.depth + 1 > MAX_CALL_DEPTH:
        return _refused(parent, workflow_id, name, f"call depth limit {MAX_CALL_DEPTH} exceeded")
    try:  # a draft may hold a graph with problems; it is never run
        await adv.runtime.graphs.get(adv.conn, str(workflow["current_version_id"]))
    except InvalidDefinition as exc:
        message = f"workflow {name!r} has an invalid definition: {exc.report.summary()}"
        return _refused(parent, workflow_id, name, message)
    child_id = new_id()
    context = copy.deepcopy(parent.context)
    system = context.setdefault("system", {})
    system.update(
        {
            "workflow_id": workflow_id,
            "flow_id": workflow_id,
            "flow_name": name,
            "execution_id": child_id,
            "call_stack": [*stack, workflow_id],
            "parent_execution_id": parent.id,
        }
    )
    now = adv.now
    child = ExecutionState.fresh(
        id=child_id,
        project_id=parent.project_id,
        workflow_id=workflow_id,
        version_id=str(workflow["current_version_id"]),
        context=context,
        tracking_id=new_id(),
        trigger_type=parent.trigger_type,
        observer=parent.observer,
        conversation_id=parent.conversation_id,
        now=now,
        parent_execution_id=parent.id,
        depth=parent.depth + 1,
    )
    adv.adopt_new(child)
    adv.extra_writes.append(
        lambda conn: workflow_store.count_execution(conn, workflow_id, child_id, now)
    )
    adv.emit(
        parent,
        "action_performed",
        {"action": "call_workflow", "child_execution_id": child_id, "workflow_id": workflow_id},
        node_id=node.id,
    )
    return child
