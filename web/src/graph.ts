import type { Edge } from "@xyflow/react";
import type { Definition } from "./api";
import type { CardNode } from "./FlowCard";
import { autoLayout } from "./layout";

// Kapso's definition shape is React Flow's: nodes {id, type, position, data}, edges
// {source, target, label}. A decide node's edges leave from the handle of their condition.

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
    return { id: e.id ?? `e${i}-${e.source}-${label}`, source: e.source, target: e.target, label, sourceHandle: decides.has(e.source) ? label : undefined };
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
