import type { Edge } from "@xyflow/react";
import type { Definition } from "./api";
import type { CardNode } from "./FlowCard";
import { autoLayout } from "./layout";

// Kapso's definition shape is React Flow's: nodes {id, type, position, data}, edges
// {source, target, label}. A decide node's edges leave from the handle of their condition.

// An edge's label on the canvas: a decide branch's name; "next" (every other edge) is left
// undrawn (an absent label reads as "next" everywhere). Besides the clutter, each drawn
// label is measured by the browser, which costs ~50 ms when a 300-node flow opens.
export function shownLabel(label: string): string | undefined {
  return label === "next" ? undefined : label;
}

export function toFlow(definition: Definition): { nodes: CardNode[]; edges: Edge[] } {
  const decides = new Set(definition.nodes.filter((n) => n.data?.node_type === "decide").map((n) => n.id));
  let nodes: CardNode[] = definition.nodes.map((n) => ({
    id: n.id,
    type: "flow-node",
    position: n.position ?? { x: 0, y: 0 },
    data: { ...n.data, config: n.data?.config ?? {} },
  }));
  const edges: Edge[] = definition.edges.map((e, i) => {
    const label = e.label ?? "next";
    return { id: e.id ?? `e${i}-${e.source}-${label}`, source: e.source, target: e.target, label: shownLabel(label), sourceHandle: decides.has(e.source) ? label : undefined };
  });
  if (nodes.length > 1 && nodes.every((n) => n.position.x === 0 && n.position.y === 0)) nodes = autoLayout(nodes, edges);
  return { nodes, edges };
}

export function toDefinition(nodes: CardNode[], edges: Edge[]): Definition {
  return {
    nodes: nodes.map((n) => ({
      id: n.id,
      type: "flow-node",
      position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
      data: n.data,
    })),
    edges: edges.map((e) => ({ id: e.id, source: e.source, target: e.target, label: String(e.label ?? "next") })),
  };
}

// The outgoing labels a node can have: its decide conditions, else "next".
export function outgoingLabels(node: CardNode): string[] {
  if (node.data.node_type === "decide") {
    return (node.data.config.conditions ?? []).map((c: any) => c?.label).filter((l: unknown) => typeof l === "string" && l);
  }
  return ["next"];
}

// Where the graph writes variables (what `{{vars.x}}` can read), plus what every wait
// writes. Mirrors the config models' written_variables() for the common node types.
const SAVES: Record<string, string[]> = {
  wait_for_response: ["save_response_to"],
  set_variable: ["variable_name"],
  webhook: ["save_response_to", "save_error_to"],
  function: ["save_response_to"],
  call: ["save_error_to"],
};

export function writtenVariables(nodes: CardNode[]): string[] {
  const names = new Set<string>();
  for (const node of nodes) {
    if (node.data.node_type === "wait_for_response") ["last_user_input", "last_user_message"].forEach((n) => names.add(n));
    for (const field of SAVES[node.data.node_type] ?? []) {
      const value = node.data.config?.[field];
      if (typeof value === "string" && value.trim()) names.add(value.trim().split(".")[0]);
    }
  }
  return [...names].sort();
}
