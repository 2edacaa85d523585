"""`agent`: a multi-turn LLM loop that stays on the node until the model calls
`complete_task` (→ `next`, or the end when the node is a leaf) or `handoff_to_human`.

Each model turn is a journaled `llm` action keyed per turn (`<step key>:turn:<n>`): the
worker makes the call outside any transaction and delivers the journaled answer, and in
that same transaction the step runs the turn's tool calls and journals the next turn. A
crash therefore resumes at the last committed turn; a turn already answered is never
asked again, and a tool's effect is never repeated (docs/ai.md). The conversation is
journaled append-only: each turn's request carries only what is new since the previous
turn (`engine/llm/conversation.py`), and the cursor (`agent`) holds the loop's state and
the messages not journaled yet, never the whole conversation.

`enter_waiting` (or a turn with no tool call) parks the execution (`waiting_reason =
agent`) until the user writes; the message comes in like a `wait_for_response` reply
(pending input first, else the `UserInput` signal) and becomes the next user turn.
"""

from __future__ import annotations

from typing import Any

from convoflow.engine import status as st
from convoflow.engine.llm.conversation import earlier_of
from convoflow.engine.llm.journaled import KIND as LLM_KIND
from convoflow.engine.llm.journaled import llm_action
from convoflow.engine.mcp import KIND as MCP_KIND
from convoflow.engine.signals import (
    ActionDone,
    AwaitAction,
    Fail,
    Handoff,
    Next,
    Outcome,
    Park,
    Signal,
    UserInput,
)
from convoflow.engine.step import StepRun
from convoflow.engine.steps import _agent_calls as calls
from convoflow.engine.steps import _agent_mcp as mcp
from convoflow.engine.steps import _agent_options as options
from convoflow.engine.steps import _agent_tools as tools
from convoflow.engine.steps._ai import conversation_turns, provider_model, usage_of
from convoflow.engine.steps.wait_for_response import record_input

HISTORY_MESSAGES = 20  # of the conversation, given to the model on entering the node
MAX_EVENT_TEXT = 200
MAX_EVENT_TOOL_TEXT = 1000  # a tool call's arguments or result, as an event shows them


def _clip(text: str) -> str:
    return text if len(text) <= MAX_EVENT_TOOL_TEXT else text[: MAX_EVENT_TOOL_TEXT - 1] + "…"


async def enter(run: StepRun) -> Outcome:
    # `new`: the messages the next turn's request journals (the earlier turns' are in
    # the journal); `first`: the turn the journaled conversation starts at.
    state: dict[str, Any] = {
        "turn": 0,
        "first": 1,
        "new": await conversation_turns(run, HISTORY_MESSAGES),
        "pending": [],
        "wait": False,
        "mcp": None,  # the MCP servers' tools, listed before the first turn
    }
    return await _ask(run, state)


async def on_signal(run: StepRun, signal: Signal) -> Outcome:
    state = run.execution.cursor.get("agent")
    if not isinstance(state, dict):
        return Fail(f"agent {run.node.id!r} lost its conversation state", {"code": "agent_state"})
    state = _upgraded(dict(state), run.execution.cursor.get("awaiting"))
    if isinstance(signal, UserInput):
        return await _user_wrote(run, state, signal)
    awaiting = run.execution.cursor.get("awaiting")
    if isinstance(signal, ActionDone) and awaiting == "llm":
        return await _model_answered(run, state, signal.result)
    if isinstance(signal, ActionDone) and awaiting == "mcp_list":
        unavailable = dict(run.execution.cursor.get("mcp_unavailable") or {})
        state["mcp"] = mcp.listed(run, signal.result, unavailable, _other_tool_names(run))
        return await _ask(run, state)
    if isinstance(signal, ActionDone) and awaiting == MCP_KIND:
        call = dict(run.execution.cursor.get("call") or {})
        _answered(run, state, call, mcp.call_answer(signal.result))
        return await _run_calls(run, state)
    if isinstance(signal, ActionDone) and awaiting in ("webhook", "function"):
        call = dict(run.execution.cursor.get("call") or {})
        answer = calls.call_answer(run, str(awaiting), str(call.get("name")), signal.result)
        _answered(run, state, call, answer)
        return await _run_calls(run, state)
    return Fail(f"agent {run.node.id!r} got an unexpected {type(signal).__name__}")


def _upgraded(state: dict[str, Any], awaiting: Any) -> dict[str, Any]:
    """A state written before the journal was append-only carries the whole conversation
    (`messages`): it becomes the next turn's new messages, and that turn starts the
    journaled conversation. Awaiting a model answer, the turn being asked already
    journaled all of it (the old format is self-contained), so it is the first."""
    if "messages" not in state:
        return state
    messages = state.pop("messages")
    if awaiting == "llm":
        return {**state, "first": state["turn"], "new": []}
    return {**state, "first": state["turn"] + 1, "new": messages}


async def _user_wrote(run: StepRun, state: dict[str, Any], signal: UserInput) -> Outcome:
    record_input(run, signal, save_to=None)  # vars.last_user_input, the inbound event
    text = signal.value if isinstance(signal.value, str) else tools.as_json(signal.value)
    state["new"] = [*state["new"], {"role": "user", "content": text}]
    state["wait"] = False
    state["mcp"] = None  # a new round: the MCP servers' tools are listed again
    return await _ask(run, state)


async def _ask(run: StepRun, state: dict[str, Any]) -> Outcome:
    """Journal the next model turn, or stop at max_iterations."""
    config = run.config
    if state["turn"] >= config.max_iterations:
        run.emit("agent_stopped", {"reason": "max_iterations", "turns": state["turn"]})
        return Fail(
            f"agent {run.node.id!r} reached max_iterations ({config.max_iterations}) "
            "without complete_task or handoff_to_human",
            {"code": "max_iterations", "max_iterations": config.max_iterations},
        )
    model = state.get("model")
    if model is None:
        # Looked up once per visit: every turn's call reads the row by id again (its key).
        row = await provider_model(run)
        if isinstance(row, str):
            return Fail(f"agent {run.node.id!r}: {row}", {"code": "no_provider_model"})
        model = state["model"] = {
            "id": row["id"],
            "name": row["name"],
            "settings": row["settings"],
            "provider": row["provider"],
        }
        ignored = options.ignored(run, row["provider"])
        if ignored:
            run.emit("agent_options_ignored", {"options": ignored})
    if mcp.servers(run) and state.get("mcp") is None:
        return await _list_mcp_tools(run, state)
    state["turn"] += 1
    prefix = f"{run.step_key}:turn:"
    key = f"{prefix}{state['turn']}"
    request = llm_action(
        model,
        project_id=run.execution.project_id,
        system=await options.system_prompt(run),
        messages=state["new"],
        earlier=earlier_of(prefix, state["first"], state["turn"] - 1),
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        idempotency_key=key,
        purpose="agent",
        tools=tools.tool_specs(options.offered(run))
        + calls.call_specs(run)
        + list((state.get("mcp") or {}).get("specs") or []),
        **options.provider_options(run, str(model.get("provider") or "openai")),
    )
    state["new"] = []  # journaled with this turn
    return AwaitAction(LLM_KIND, request, key=key, carry={"agent": state, "awaiting": "llm"})


def _other_tool_names(run: StepRun) -> set[str]:
    offered = options.offered(run)
    return set(offered) | {spec["name"] for spec in calls.call_specs(run)}


async def _list_mcp_tools(run: StepRun, state: dict[str, Any]) -> Outcome:
    """Journal the listing of the MCP servers' tools (for the round's coming turns)."""
    request, unavailable = await mcp.list_request(run)
    if not request["servers"]:  # none can be asked (no url, ...): nothing to journal
        state["mcp"] = mcp.listed(run, {}, unavailable, _other_tool_names(run))
        return await _ask(run, state)
    key = f"{run.step_key}:turn:{state['turn'] + 1}:mcp_tools"
    carry = {"agent": state, "awaiting": "mcp_list", "mcp_unavailable": unavailable}
    return AwaitAction(MCP_KIND, request, key=key, carry=carry)


async def _model_answered(run: StepRun, state: dict[str, Any], result: dict[str, Any]) -> Outcome:
    calls = [dict(call) for call in result.get("tool_calls") or []]
    text = str(result.get("text") or "")
    run.emit(
        "agent_turn",
        {
            "turn": state["turn"],
            "ok": bool(result.get("ok")),
            "text": text[:MAX_EVENT_TEXT],
            "tool_calls": [call.get("name") for call in calls],
            "provider_model": result.get("provider_model_name"),
            **usage_of(result),
        },
    )
    if not result.get("ok"):
        return Fail(
            f"agent {run.node.id!r}: the model call failed: {result.get('error')}",
            {"code": "agent_model_failed", "turn": state["turn"]},
        )
    # The answer itself is journaled (the turn's result): the conversation's next
    # messages are its tool results.
    if text.strip() and options.sends_assistant_text(run):
        run.send({"type": "text", "text": text})
    if not calls:
        # Nothing left to do this turn but hear the user (a chat reply).
        return await _wait_for_user(run, state)
    # Numbered: a call the provider gave no id is keyed by its place in the turn.
    state["pending"] = [{**call, "n": n} for n, call in enumerate(calls)]
    return await _run_calls(run, state)


async def _run_calls(run: StepRun, state: dict[str, Any]) -> Outcome:
    """Run the turn's tool calls in order, each answered by a `tool` message; a webhook or
    function tool's call is made by the worker, the loop goes on when its result is back."""
    offered = options.offered(run)
    while state["pending"]:
        call, *rest = state["pending"]
        state["pending"] = rest
        name = str(call.get("name"))
        arguments = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
        if name in tools.CONTROL_TOOLS and name in offered:
            outcome = _control(run, state, name, arguments)
            if outcome is not None:
                return outcome
            answer = tools.ToolAnswer("waiting for the user's reply")
        elif name in offered:
            answer = await tools.run_builtin(run, name, arguments)
        else:
            # Keyed by the turn and the call (its place in the turn when the provider
            # gives no id): stable across a crash, since the answer is journaled.
            call_id = call.get("id") or f"n{call.get('n')}"
            key = f"{run.step_key}:turn:{state['turn']}:tool:{call_id}"
            prepared = await mcp.prepare_call(run, state.get("mcp"), name, arguments, key)
            if prepared is None:
                prepared = await calls.prepare_call(run, name, arguments, key)
            if prepared is None:
                prepared = mcp.unavailable_answer(state.get("mcp"), name)
            if isinstance(prepared, tuple):
                kind, request = prepared
                carry = {"agent": state, "awaiting": kind, "call": call}
                return AwaitAction(kind, request, key=key, carry=carry)
            answer = prepared or tools.ToolAnswer(f"error: no tool named {name!r}", ok=False)
        _answered(run, state, call, answer)
    if state["wait"]:
        return await _wait_for_user(run, state)
    return await _ask(run, state)


def _answered(
    run: StepRun, state: dict[str, Any], call: dict[str, Any], answer: tools.ToolAnswer
) -> None:
    name = call.get("name")
    # The call and its result as the model saw them (the result is what was journaled for a
    # webhook, function or MCP tool), cut for the event: the inspector shows them.
    arguments = call.get("arguments")
    shown = tools.as_json(arguments)
    run.emit(
        "agent_tool_called",
        {
            "turn": state["turn"],
            "tool": name,
            "ok": answer.ok,
            "tool_call_id": call.get("id"),
            "arguments": arguments if len(shown) <= MAX_EVENT_TOOL_TEXT else _clip(shown),
            "result": _clip(answer.content),
        },
    )
    state["new"] = [
        *state["new"],
        {"role": "tool", "tool_call_id": call.get("id"), "content": answer.content},
    ]


def _control(
    run: StepRun, state: dict[str, Any], name: str, arguments: dict[str, Any]
) -> Outcome | None:
    """complete_task and handoff_to_human leave the node; enter_waiting waits after the
    turn's other calls (None: go on with them)."""
    if name == "complete_task":
        summary = arguments.get("summary")
        run.emit("agent_completed", {"turns": state["turn"], "summary": summary})
        return Next()
    if name == "handoff_to_human":
        reason = arguments.get("reason")
        return Handoff(reason=reason if isinstance(reason, str) else "agent handoff")
    state["wait"] = True
    return None


async def _wait_for_user(run: StepRun, state: dict[str, Any]) -> Outcome:
    # A message that reached the conversation while the model was thinking answers now.
    pending = await run.advance.take_pending_input(run.execution)
    if pending is not None:
        return await _user_wrote(run, state, pending)
    state["wait"] = True
    return Park(
        status=st.WAITING,
        waiting_reason=st.WAIT_AGENT,
        cursor={"phase": "await_input", "agent": state},
    )
