"""Warnings about flows that are valid but probably not what the author meant.

Codes: ``unreachable_node``, ``cycle_without_wait``, ``variable_never_written``,
``text_too_long``, ``missing_default_condition``, ``agent_option_ignored``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from convoflow.graph._checked import CheckedEdge, CheckedNode
from convoflow.graph.expressions import referenced_vars
from convoflow.graph.nodes import (
    BUILTIN_VARIABLES,
    NODE_TYPES,
    WAITING_NODE_TYPES,
    AgentConfig,
    DecideConfig,
    pauses,
)
from convoflow.graph.problems import ValidationReport
from convoflow.graph.templating import iter_strings, referenced_paths


def run_lints(
    nodes: list[CheckedNode],
    edges: list[CheckedEdge],
    report: ValidationReport,
    *,
    known_vars: set[str],
) -> None:
    unique = _unique_nodes(nodes)
    adjacency = _adjacency(unique, edges)
    _unreachable_nodes(unique, adjacency, report)
    _cycles_without_wait(unique, adjacency, report)
    _variables_never_written(unique, report, known_vars)
    _texts_too_long(unique, report)
    _missing_default_conditions(unique, report)
    _agent_options_ignored(unique, report)


def _unique_nodes(nodes: list[CheckedNode]) -> dict[str, CheckedNode]:
    unique: dict[str, CheckedNode] = {}
    for node in nodes:
        unique.setdefault(node.id, node)  # duplicates are errors already; lint the first
    return unique


def _adjacency(unique: dict[str, CheckedNode], edges: list[CheckedEdge]) -> dict[str, list[str]]:
    adjacency: dict[str, list[str]] = {node_id: [] for node_id in unique}
    for edge in edges:
        if edge.source in unique and edge.target in unique:
            adjacency[edge.source].append(edge.target)
    return adjacency


def _unreachable_nodes(
    unique: dict[str, CheckedNode], adjacency: dict[str, list[str]], report: ValidationReport
) -> None:
    starts = [node.id for node in unique.values() if node.node_type == "start"]
    if len(starts) != 1:
        return  # missing/multiple start is an error already; reachability is meaningless
    reached = {starts[0]}
    queue = deque(starts)
    while queue:
        for target in adjacency[queue.popleft()]:
            if target not in reached:
                reached.add(target)
                queue.append(target)
    for node_id in unique:
        if node_id not in reached:
            report.warning(
                "unreachable_node",
                f"node '{node_id}' cannot be reached from the start node '{starts[0]}'",
                node_id=node_id,
            )


# The types that always pause, named in the cycle warning (from the node registry).
_WAITING_NAMES = ", ".join(sorted(WAITING_NODE_TYPES))


def _pauses(node: CheckedNode) -> bool:
    return pauses(node.node_type, node.config)


def _cycles_without_wait(
    unique: dict[str, CheckedNode], adjacency: dict[str, list[str]], report: ValidationReport
) -> None:
    # A handoff never follows its edges, so a loop through one cannot spin.
    followed = {
        node_id: targets if unique[node_id].node_type != "handoff" else []
        for node_id, targets in adjacency.items()
    }
    order = {node_id: position for position, node_id in enumerate(unique)}
    for component in _strongly_connected(followed):
        looping = len(component) > 1 or component[0] in followed[component[0]]
        if not looping or any(_pauses(unique[node_id]) for node_id in component):
            continue
        members = sorted(component, key=order.__getitem__)
        report.warning(
            "cycle_without_wait",
            f"nodes {', '.join(repr(m) for m in members)} form a loop with no waiting node "
            f"({_WAITING_NAMES}, or send_text with delay_seconds); an execution "
            "entering it runs until the step limit",
            node_id=members[0],
        )


def _strongly_connected(graph: dict[str, list[str]]) -> Iterator[list[str]]:
    """Tarjan's algorithm, iterative so that long chains do not hit the recursion limit."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    counter = 0
    for root in graph:
        if root in index_of:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child_pos = work.pop()
            if child_pos == 0:
                index_of[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = graph[node]
            if child_pos < len(children):
                work.append((node, child_pos + 1))
                child = children[child_pos]
                if child not in index_of:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index_of[child])
                continue
            if low[node] == index_of[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                yield component
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])


def _variables_never_written(
    unique: dict[str, CheckedNode], report: ValidationReport, known_vars: set[str]
) -> None:
    configs = [node.config for node in unique.values() if node.config is not None]
    if any(config.writes_any_variable() for config in configs):
        return  # a function/agent/call may write any name; the lint would only be noise
    if any(node.node_type not in NODE_TYPES or node.config is None for node in unique.values()):
        return  # an invalid node might be the writer; errors come first
    written = set(BUILTIN_VARIABLES) | known_vars
    for config in configs:
        written |= config.written_variables()
    for node in unique.values():
        for field, name in _variable_reads(node):
            if name in written:
                continue
            written.add(name)  # report each missing variable once, where first read
            report.warning(
                "variable_never_written",
                f"node '{node.id}': {field} reads vars.{name}, but no node writes it (set it "
                "with set_variable or save_response_to, or pass it when starting the execution)",
                node_id=node.id,
                field=f"config.{field}",
            )


def _variable_reads(node: CheckedNode) -> Iterator[tuple[str, str]]:
    """(field path, variable name) for every ``vars.x`` a node reads."""
    for path, text in iter_strings(node.raw_config):
        for ref in referenced_paths(text):
            parts = ref.split(".")
            if parts[0] == "vars" and len(parts) > 1:
                yield path, parts[1]
    if isinstance(node.config, DecideConfig) and node.config.decision_type == "rules":
        for index, condition in enumerate(node.config.conditions):
            for ref in referenced_vars(condition.expression or ""):
                yield f"conditions[{index}].expression", ref.split(".")[1]


def _texts_too_long(unique: dict[str, CheckedNode], report: ValidationReport) -> None:
    for node in unique.values():
        if node.config is None:
            continue
        for limit in node.config.text_limits():
            if limit.length > limit.limit:
                report.warning(
                    "text_too_long",
                    f"node '{node.id}': {limit.field} is {limit.length} characters; WhatsApp "
                    f"allows at most {limit.limit}",
                    node_id=node.id,
                    field=f"config.{limit.field}",
                )


def _missing_default_conditions(unique: dict[str, CheckedNode], report: ValidationReport) -> None:
    for node in unique.values():
        config = node.config
        if not isinstance(config, DecideConfig) or config.decision_type != "rules":
            continue
        if config.conditions and not any(c.is_default for c in config.conditions):
            report.warning(
                "missing_default_condition",
                f"decide node '{node.id}' has no default condition (one without an "
                "expression) to take when no rule matches",
                node_id=node.id,
                field="config.conditions",
            )


def _agent_options_ignored(unique: dict[str, CheckedNode], report: ValidationReport) -> None:
    for node in unique.values():
        if not isinstance(node.config, AgentConfig):
            continue
        for option, why in node.config.unsupported_options():
            # ask_about_file is a tool named in enabled_default_tools, not a field.
            field = "enabled_default_tools" if option == "ask_about_file" else option
            report.warning(
                "agent_option_ignored",
                f"agent node '{node.id}': {option} is ignored: {why}",
                node_id=node.id,
                field=f"config.{field}",
            )
