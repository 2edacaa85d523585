import dagre from "@dagrejs/dagre";
import type { Edge, Node } from "@xyflow/react";

const WIDTH = 240;
const HEIGHT = 110;

// Top-to-bottom layered layout (dagre): what "Auto-layout" does, and what a definition
// without positions gets when it is opened.
export function autoLayout<N extends Node>(nodes: N[], edges: Edge[]): N[] {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "TB", nodesep: 40, ranksep: 60 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    graph.setNode(node.id, { width: node.measured?.width ?? WIDTH, height: node.measured?.height ?? HEIGHT });
  }
  for (const edge of edges) graph.setEdge(edge.source, edge.target);
  dagre.layout(graph);
  return nodes.map((node) => {
    const placed = graph.node(node.id);
    const width = node.measured?.width ?? WIDTH;
    const height = node.measured?.height ?? HEIGHT;
    return { ...node, position: { x: Math.round(placed.x - width / 2), y: Math.round(placed.y - height / 2) } };
  });
}
