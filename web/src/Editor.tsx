import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  Background, Controls, ReactFlow, ReactFlowProvider, useEdgesState, useNodesState, useReactFlow,
  type Connection, type Edge,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { api, ApiError, Definition, errorText, getOnce, loadNodeTypes, NodeTypeInfo, P, Problem, Validation, Workflow } from "./api";
import { CardNode, EditorContext, FlowCard } from "./FlowCard";
import { HistoryPanel } from "./History";
import { outgoingLabels, shownLabel, toDefinition, toFlow, writtenVariables } from "./graph";
import { autoLayout } from "./layout";
import { navigate } from "./router";
import { ConfigForm } from "./SchemaForm";
import { ErrorBox, ICONS, Notice, withoutNode } from "./ui";

const NODE_TYPES = { "flow-node": FlowCard };
const EMPTY: Validation = { valid: true, errors: [], warnings: [] };
const HISTORY = 100;
type Snapshot = { nodes: CardNode[]; edges: Edge[] };
const DEFAULTS: Record<string, Record<string, unknown>> = {
  decide: { decision_type: "rules", conditions: [] },
  send_interactive: { interactive_type: "button", body_text: "", buttons: [] },
  wait_for_response: { has_timeout: false },
};

type Envelope<T> = { data: T };

// What validation depends on: not positions (dragging must not re-check).
function shapeOf(definition: Definition): string {
  return JSON.stringify([definition.nodes.map((n) => [n.id, n.data]), definition.edges]);
}

function byNode(problems: Problem[]): Record<string, Problem[]> {
  const found: Record<string, Problem[]> = {};
  for (const p of problems) if (p.node_id) (found[p.node_id] ??= []).push(p);
  return found;
}

function SidePanel(props: {
  node: CardNode | undefined; info: NodeTypeInfo | undefined; nodes: CardNode[]; edges: Edge[]; validation: Validation;
  update: (id: string, data: Partial<CardNode["data"]>) => void; connect: (source: string, label: string, target: string) => void;
  remove: (id: string) => void;
}) {
  const { node, info, nodes, edges, validation } = props;
  if (!node || !info) {
    const general = [...validation.errors.filter((p) => !p.node_id), ...validation.warnings];
    return (
      <aside className="side" aria-label="Flow problems">
        <h2>{validation.valid ? "No errors" : `${validation.errors.length} error(s)`}</h2>
        <p className="hint">Select a node to edit it. Errors show on their node; drafts save even with errors, activation needs none.</p>
        <ul className="problems">{general.map((p, i) => <li key={i} className={validation.errors.includes(p) ? "err" : "warn"}>{p.node_id ? `${p.node_id}: ` : ""}{p.message}</li>)}</ul>
      </aside>
    );
  }
  const problems = [...validation.errors, ...validation.warnings].filter((p) => p.node_id === node.id);
  return (
    <aside className="side" aria-label="Node settings" data-node={node.id}>
      <h2>{ICONS[info.icon]} {info.label}</h2>
      <div className="field">
        <label htmlFor="node-name">Name</label>
        <input id="node-name" value={node.data.display_name ?? ""} onChange={(e) => props.update(node.id, { display_name: e.target.value })} />
      </div>
      <ConfigForm info={info} config={node.data.config} problems={problems} variables={writtenVariables(nodes)} onChange={(config) => props.update(node.id, { config })} />
      <fieldset className="field">
        <legend>Connections</legend>
        {outgoingLabels(node).map((label) => {
          const current = edges.find((e) => e.source === node.id && String(e.label ?? "next") === label);
          return (
            <div className="field" key={label}>
              <label htmlFor={`out-${label}`}>{label === "next" ? "Next step" : `When “${label}”`}</label>
              <select id={`out-${label}`} value={current?.target ?? ""} onChange={(e) => props.connect(node.id, label, e.target.value)}>
                <option value="">(none)</option>
                {nodes.filter((n) => n.id !== node.id && n.data.node_type !== "start").map((n) => <option key={n.id} value={n.id}>{n.data.display_name || n.id}</option>)}
              </select>
            </div>
          );
        })}
      </fieldset>
      {problems.length > 0 && <ul className="problems">{problems.map((p, i) => <li key={i} className={validation.errors.includes(p) ? "err" : "warn"}>{p.field ? `${p.field}: ` : ""}{withoutNode(p.message)}</li>)}</ul>}
      <button className="danger" onClick={() => props.remove(node.id)}>Delete node</button>
    </aside>
  );
}

function EditorCanvas({ workflowId }: { workflowId: string }) {
  const [flow, setFlow] = useState<Workflow | null>(null);
  const [types, setTypes] = useState<Record<string, NodeTypeInfo>>({});
  const [nodes, setNodes, onNodesChange] = useNodesState<CardNode>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>([]);
  const [validation, setValidation] = useState<Validation>(EMPTY);
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [conflict, setConflict] = useState(false);
  const [saved, setSaved] = useState("");
  const [showHistory, setShowHistory] = useState(false);
  const [versionsSeen, setVersionsSeen] = useState(0);
  // useReactFlow() returns a new object once the viewport is initialised: kept in a ref so
  // that `load` (which depends on it otherwise) does not fetch and lay the graph out twice.
  const flowView = useReactFlow();
  const viewRef = useRef(flowView);
  viewRef.current = flowView;
  const checkSeq = useRef(0);
  const loadedShape = useRef("");
  // Undo/redo: snapshots of the graph taken before each change (typing in one field
  // within a second is one change).
  const past = useRef<Snapshot[]>([]);
  const future = useRef<Snapshot[]>([]);
  const lastChange = useRef(0);
  const [, setHistoryVersion] = useState(0);

  function remember(coalesce = false) {
    const now = Date.now();
    const merge = coalesce && now - lastChange.current < 1000;
    lastChange.current = now;
    if (merge) return;
    past.current = [...past.current.slice(-(HISTORY - 1)), { nodes, edges }];
    future.current = [];
    setHistoryVersion((v) => v + 1);
  }

  function travel(from: React.MutableRefObject<Snapshot[]>, to: React.MutableRefObject<Snapshot[]>) {
    const snapshot = from.current[from.current.length - 1];
    if (!snapshot) return;
    from.current = from.current.slice(0, -1);
    to.current = [...to.current, { nodes, edges }];
    lastChange.current = 0;
    setNodes(snapshot.nodes);
    setEdges(snapshot.edges);
    setHistoryVersion((v) => v + 1);
  }
  const undo = () => travel(past, future);
  const redo = () => travel(future, past);

  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      const typing = (event.target as HTMLElement)?.closest?.("input, textarea, select");
      if (typing || !(event.ctrlKey || event.metaKey)) return;
      const key = event.key.toLowerCase();
      if (key === "z" && !event.shiftKey) undo();
      else if (key === "y" || (key === "z" && event.shiftKey)) redo();
      else return;
      event.preventDefault();
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  const load = useCallback(async () => {
    setError(null);
    setConflict(false);
    try {
      const [read, catalogue] = await Promise.all([
        getOnce<Envelope<Workflow & { definition: Definition }>>(`${P}/workflows/${workflowId}/definition`),
        loadNodeTypes(),
      ]);
      const { definition, ...meta } = read.data;
      const graph = toFlow(definition);
      setTypes(Object.fromEntries(catalogue.map((t) => [t.type, t])));
      setFlow(meta);
      setNodes(graph.nodes);
      setEdges(graph.edges);
      setValidation(meta.validation);
      setSaved(JSON.stringify(toDefinition(graph.nodes, graph.edges)));
      past.current = [];
      future.current = [];
      loadedShape.current = shapeOf(toDefinition(graph.nodes, graph.edges));
      window.requestAnimationFrame(() => viewRef.current.fitView({ maxZoom: 1 }));
    } catch (exc) {
      setError(errorText(exc));
    }
  }, [workflowId, setNodes, setEdges]);
  useEffect(() => void load(), [load]);

  const definition = useMemo(() => toDefinition(nodes, edges), [nodes, edges]);
  const current = useMemo(() => JSON.stringify(definition), [definition]);
  const dirty = flow !== null && current !== saved;
  const shape = useMemo(() => shapeOf(definition), [definition]);

  useEffect(() => {
    if (!flow) return;
    // The graph as loaded comes with its validation: no need to ask again (once: an undo
    // back to this shape later must re-check).
    if (shape === loadedShape.current) {
      loadedShape.current = "";
      return;
    }
    const seq = ++checkSeq.current;
    const timer = window.setTimeout(async () => {
      try {
        const report = await api<Envelope<Validation>>("POST", `${P}/definitions/validate`, { definition: JSON.parse(current) });
        if (seq === checkSeq.current) setValidation(report.data);
      } catch (exc) {
        if (seq === checkSeq.current) setError(errorText(exc));
      }
    }, 300);
    return () => window.clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, flow?.id]);

  async function save(overwrite = false): Promise<Workflow | null> {
    if (!flow) return null;
    setError(null);
    setNotice(null);
    try {
      let lock = flow.lock_version;
      if (overwrite) lock = (await api<Envelope<Workflow>>("GET", `${P}/workflows/${flow.id}`)).data.lock_version;
      const body = { workflow: { definition, lock_version: lock } };
      const updated = (await api<Envelope<Workflow>>("PATCH", `${P}/workflows/${flow.id}`, body)).data;
      setFlow(updated);
      setValidation(updated.validation);
      setSaved(current);
      setConflict(false);
      setNotice(updated.validation.valid ? "Saved." : `Saved as a draft with ${updated.validation.errors.length} error(s).`);
      setVersionsSeen((n) => n + 1);
      return updated;
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 409) setConflict(true);
      setError(errorText(exc));
      return null;
    }
  }

  // Restore = save the old definition as the new current version, guarded by
  // lock_version like any save (a 409 offers reload / overwrite as usual).
  async function restore(old: Definition, number: number) {
    if (!flow) return;
    setError(null);
    setNotice(null);
    try {
      const body = { workflow: { definition: old, lock_version: flow.lock_version } };
      await api<Envelope<Workflow>>("PATCH", `${P}/workflows/${flow.id}`, body);
      await load();
      setVersionsSeen((n) => n + 1);
      setNotice(`Restored version ${number} (saved as the newest version).`);
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 409) setConflict(true);
      setError(errorText(exc));
    }
  }

  async function setStatus(status: Workflow["status"]) {
    if (!flow) return;
    const base = dirty ? await save() : flow;
    if (!base) return;
    try {
      const updated = (await api<Envelope<Workflow>>("PATCH", `${P}/workflows/${flow.id}`, { workflow: { status, lock_version: base.lock_version } })).data;
      setFlow(updated);
      setNotice(status === "active" ? "Activated." : `Now ${status}.`);
    } catch (exc) {
      setError(errorText(exc));
    }
  }

  function add(type: string) {
    const info = types[type];
    const taken = new Set(nodes.map((n) => n.id));
    let index = 1;
    while (taken.has(`${type}_${index}`)) index += 1;
    const id = `${type}_${index}`;
    const lowest = nodes.reduce((y, n) => Math.max(y, n.position.y), -140);
    const node: CardNode = {
      id, type: "flow-node", position: { x: nodes[nodes.length - 1]?.position.x ?? 0, y: lowest + 160 },
      data: { node_type: type, display_name: `${info?.label ?? type} ${index}`, config: { ...(DEFAULTS[type] ?? {}) } },
      selected: true,
    };
    remember();
    setNodes((all) => [...all.map((n) => ({ ...n, selected: false })), node]);
    setSelected(id);
  }

  const update = (id: string, data: Partial<CardNode["data"]>) => {
    remember(true);
    setNodes((all) => all.map((n) => (n.id === id ? { ...n, data: { ...n.data, ...data } } : n)));
  };

  const connect = useCallback((source: string, label: string, target: string) => {
    remember();
    setEdges((all) => {
      const rest = all.filter((e) => !(e.source === source && String(e.label ?? "next") === label));
      if (!target) return rest;
      const decide = nodes.find((n) => n.id === source)?.data.node_type === "decide";
      return [...rest, { id: `e-${source}-${label}-${target}`, source, target, label: shownLabel(label), sourceHandle: decide ? label : undefined }];
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [setEdges, nodes, edges]);

  const onConnect = useCallback((c: Connection) => connect(c.source, c.sourceHandle ?? "next", c.target), [connect]);

  function remove(id: string) {
    remember();
    setNodes((all) => all.filter((n) => n.id !== id));
    setEdges((all) => all.filter((e) => e.source !== id && e.target !== id));
    setSelected(null);
  }

  function layout() {
    remember();
    setNodes((all) => autoLayout(all, edges));
    // After React Flow has applied the new positions.
    window.setTimeout(() => viewRef.current.fitView({ maxZoom: 1, duration: 0 }), 50);
  }

  const problems = useMemo(() => byNode(validation.errors), [validation]);
  const context = useMemo(() => ({ types, problems }), [types, problems]);
  const node = nodes.find((n) => n.id === selected);
  if (!flow) return <main className="page"><ErrorBox error={error} />{!error && <p className="loading">Loading…</p>}</main>;
  return (
    <main className="editor">
      <div className="toolbar">
        <h1>{flow.name} <span className={`badge ${flow.status}`}>{flow.status}</span></h1>
        <span className={`state ${validation.valid ? "ok" : "bad"}`} data-testid="validity">
          {validation.valid ? "✓ valid" : `✗ ${validation.errors.length} error(s)`}
        </span>
        <button onClick={() => save()} className="primary" disabled={!dirty}>{dirty ? "Save" : "Saved"}</button>
        {flow.status !== "active" ? <button onClick={() => setStatus("active")}>Activate</button> : <button onClick={() => setStatus("draft")}>Back to draft</button>}
        <button onClick={undo} disabled={past.current.length === 0} title="Undo (Ctrl+Z)">Undo</button>
        <button onClick={redo} disabled={future.current.length === 0} title="Redo (Ctrl+Shift+Z)">Redo</button>
        <button onClick={layout}>Auto-layout</button>
        <button onClick={() => setShowHistory((v) => !v)} aria-pressed={showHistory}>History</button>
        <button onClick={() => navigate(`/console/flows/${flow.id}/chat`)}>Test chat</button>
        <button onClick={() => navigate(`/console/flows/${flow.id}/tests`)}>Tests</button>
      </div>
      <ErrorBox error={error} onClose={() => setError(null)} />
      {conflict && (
        <div className="conflict" role="alert">
          Changed elsewhere since you opened it: <button onClick={() => load()}>Reload (drop my changes)</button>
          <button onClick={() => save(true)}>Overwrite with mine</button>
        </div>
      )}
      <Notice text={notice} />
      <div className="workspace">
        <nav className="palette" aria-label="Add a node">
          <h2>Add</h2>
          {Object.values(types).filter((t) => t.type !== "start").map((t) => (
            <button key={t.type} onClick={() => add(t.type)} title={`Add ${t.label}`}>
              <span aria-hidden>{ICONS[t.icon] ?? "◻"}</span> {t.label}
            </button>
          ))}
        </nav>
        <div className="canvas">
          <EditorContext.Provider value={context}>
            <ReactFlow
              nodes={nodes} edges={edges} nodeTypes={NODE_TYPES}
              onNodesChange={onNodesChange} onEdgesChange={onEdgesChange} onConnect={onConnect}
              onSelectionChange={({ nodes: chosen }) => setSelected(chosen.length === 1 ? chosen[0].id : null)}
              onNodeDragStart={() => remember()}
              onBeforeDelete={async () => { remember(); return true; }}
              deleteKeyCode={["Backspace", "Delete"]} minZoom={0.1} fitView
            >
              <Background />
              <Controls />
            </ReactFlow>
          </EditorContext.Provider>
        </div>
        {showHistory ? (
          <HistoryPanel workflowId={flow.id} refresh={versionsSeen} dirty={dirty} onRestore={restore} />
        ) : <SidePanel node={node} info={node ? types[node.data.node_type] : undefined} nodes={nodes} edges={edges}
          validation={validation} update={update} connect={connect} remove={remove} />}
      </div>
    </main>
  );
}

export default function EditorPage({ workflowId }: { workflowId: string }) {
  return (
    <ReactFlowProvider>
      <EditorCanvas workflowId={workflowId} />
    </ReactFlowProvider>
  );
}
