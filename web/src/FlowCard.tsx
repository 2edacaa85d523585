import { createContext, memo, useContext, useEffect, useRef } from "react";
import { Handle, Position, useUpdateNodeInternals, type NodeProps, type Node } from "@xyflow/react";
import type { NodeTypeInfo, Problem } from "./api";
import { ICONS, withoutNode } from "./ui";

export type CardData = { node_type: string; config: Record<string, any>; display_name?: string | null; [k: string]: unknown };
export type CardNode = Node<CardData, "flow-node">;

export const EditorContext = createContext<{ types: Record<string, NodeTypeInfo>; problems: Record<string, Problem[]>; current?: string | null; visited?: Set<string> }>({
  types: {},
  problems: {},
});

function short(value: unknown, length = 80): string {
  const text = typeof value === "string" ? value : JSON.stringify(value ?? "");
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

// What a person recognises the node by, per type.
function Summary({ type, config }: { type: string; config: Record<string, any> }) {
  switch (type) {
    case "send_text":
      return <p className="summary">{config.message ? short(config.message) : <em>no message</em>}</p>;
    case "send_interactive":
      return (
        <>
          <p className="summary">{config.body_text ? short(config.body_text) : <em>no body text</em>}</p>
          <div className="chips">
            {(config.buttons ?? []).map((b: any, i: number) => <span className="chip" key={i}>{b?.title || "(untitled)"}</span>)}
          </div>
        </>
      );
    case "wait_for_response":
      return (
        <p className="summary">
          {config.has_timeout ? `timeout ${config.timeout_seconds ?? "?"} s` : "no timeout"}
          {config.save_response_to ? ` → vars.${config.save_response_to}` : ""}
        </p>
      );
    case "webhook":
      return <p className="summary">{config.method ?? "POST"} {config.url ? short(config.url, 50) : <em>no URL</em>}</p>;
    case "handoff":
      return <p className="summary">{config.reason ? short(config.reason) : "to a human"}</p>;
    case "set_variable":
      return <p className="summary">{config.variable_name ?? "?"} = {short(config.variable_value, 40)}</p>;
    default:
      return null;
  }
}

export const FlowCard = memo(function FlowCard({ id, data, selected }: NodeProps<CardNode>) {
  const { types, problems, current, visited } = useContext(EditorContext);
  const info = types[data.node_type];
  const mine = problems[id] ?? [];
  const conditions: any[] = data.node_type === "decide" ? data.config.conditions ?? [] : [];
  // A decide node's handles come and go with its conditions: React Flow must re-measure
  // them, or edges from a new handle are not drawn.
  // Only on a change after mount: asking for every node at mount re-measures the whole
  // graph once per node (seconds for a few hundred nodes).
  const updateInternals = useUpdateNodeInternals();
  const handles = conditions.map((c) => c?.label).join("\u0000");
  const mounted = useRef(false);
  useEffect(() => {
    if (mounted.current) updateInternals(id);
    mounted.current = true;
  }, [id, handles, updateInternals]);
  const classes = ["flow-card", selected ? "selected" : "", mine.length ? "invalid" : "", current === id ? "current" : "", visited?.has(id) ? "visited" : ""];
  return (
    <div className={classes.join(" ")} data-testid={`node-${id}`}>
      {data.node_type !== "start" && <Handle type="target" position={Position.Top} />}
      <div className="card-head">
        <span className="icon" aria-hidden>{ICONS[info?.icon ?? "node"] ?? "◻"}</span>
        <span className="title">{data.display_name || info?.label || data.node_type}</span>
      </div>
      <div className="card-type">{info?.label ?? data.node_type}</div>
      <Summary type={data.node_type} config={data.config ?? {}} />
      {mine.length > 0 && (
        <ul className="card-problems" role="list" aria-label="Problems">
          {mine.map((p, i) => <li key={i}>{withoutNode(p.message)}</li>)}
        </ul>
      )}
      {conditions.length > 0 ? (
        <div className="branches">
          {conditions.map((c, i) => (
            <div className="branch" key={i}>
              <span>{c?.label || "?"}</span>
              <Handle type="source" id={c?.label || `c${i}`} position={Position.Bottom} />
            </div>
          ))}
        </div>
      ) : (
        <Handle type="source" position={Position.Bottom} />
      )}
    </div>
  );
});
