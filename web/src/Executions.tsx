import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Background, Controls, ReactFlow, ReactFlowProvider, type Edge } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { api, Definition, errorText, loadNodeTypes, NodeTypeInfo, P, Workflow } from "./api";
import { AgentTurns } from "./AgentTurns";
import { CardNode, EditorContext, FlowCard } from "./FlowCard";
import { toFlow } from "./graph";
import { navigate } from "./router";
import { StreamEvent, useStream } from "./stream";
import { ErrorBox, Notice } from "./ui";

// Executions of a flow (filters, cursor paging) and the inspector of one: the events
// timeline, the context as a tree, the path taken drawn on the graph, the current node.
// The inspector follows the execution's event stream (polling if the stream fails).
const POLL_MS = 2000;

type Envelope<T> = { data: T };
type Step = { identifier: string } | null | undefined;
type Summary = { id: string; status: string; started_at: string; last_event_at: string; current_step?: Step; whatsapp_conversation_id: string | null };
type Paging = { next: string | null; previous: string | null };
type Event = { id: string; sequence: number; event_type: string; direction: string | null; edge_label: string | null; created_at: string; payload: Record<string, unknown>; step?: Step };
type Detail = Summary & {
  workflow: { id: string; name: string };
  error_details: unknown;
  execution_context: Record<string, unknown>;
  events: Event[];
  workflow_version_id?: string;
};
const NODE_TYPES = { "flow-node": FlowCard };
const STATUSES = ["", "running", "waiting", "handoff", "ended", "failed"];
// engine/status.py's WAIT_* values: what a waiting execution waits for.
const WAITING_REASONS = ["", "wait_for_response", "agent", "call_workflow", "manual"];
const go = (path: string) => (e: React.MouseEvent) => { e.preventDefault(); navigate(path); };

// The list's filters are the API's (seed-001: status, waiting reason, dates, conversation),
// kept in the URL's query so a filtered list survives a reload and can be shared.
type Filters = { status: string; waiting_reason: string; created_after: string; created_before: string; whatsapp_conversation_id: string };
const FILTER_NAMES: (keyof Filters)[] = ["status", "waiting_reason", "created_after", "created_before", "whatsapp_conversation_id"];

const NO_FILTERS = Object.fromEntries(FILTER_NAMES.map((name) => [name, ""])) as Filters;

function filtersFromUrl(): Filters {
  const query = new URLSearchParams(window.location.search);
  return Object.fromEntries(FILTER_NAMES.map((name) => [name, query.get(name) ?? ""])) as Filters;
}

// datetime-local inputs are local wall-clock time; the API wants an instant.
const toInstant = (local: string) => (local ? new Date(local).toISOString() : "");

function FilterBar({ filters, onChange }: { filters: Filters; onChange: (next: Filters) => void }) {
  const set = (name: keyof Filters) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => onChange({ ...filters, [name]: e.target.value });
  const active = FILTER_NAMES.some((name) => filters[name]);
  return (
    <div className="filters" role="group" aria-label="Filters">
      <label>Status
        <select value={filters.status} onChange={set("status")}>
          {STATUSES.map((s) => <option key={s} value={s}>{s || "any"}</option>)}
        </select>
      </label>
      <label>Waiting for
        <select value={filters.waiting_reason} onChange={set("waiting_reason")}>
          {WAITING_REASONS.map((s) => <option key={s} value={s}>{s || "any"}</option>)}
        </select>
      </label>
      <label>Started after <input type="datetime-local" value={filters.created_after} onChange={set("created_after")} /></label>
      <label>Started before <input type="datetime-local" value={filters.created_before} onChange={set("created_before")} /></label>
      <label>Conversation <input value={filters.whatsapp_conversation_id} maxLength={64} placeholder="conversation id" onChange={set("whatsapp_conversation_id")} /></label>
      {active && <button onClick={() => onChange(NO_FILTERS)}>Clear filters</button>}
    </div>
  );
}

export function ExecutionsList({ workflowId }: { workflowId: string }) {
  const [rows, setRows] = useState<Summary[] | null>(null);
  const [paging, setPaging] = useState<Paging>({ next: null, previous: null });
  const [filters, setFilters] = useState<Filters>(filtersFromUrl);
  const [cursor, setCursor] = useState<{ after?: string; before?: string }>({});
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const shown = new URLSearchParams(Object.entries(filters).filter(([, v]) => v)).toString();
    window.history.replaceState(null, "", `${window.location.pathname}${shown ? `?${shown}` : ""}`);
    const sent = Object.entries(filters)
      .filter(([, v]) => v)
      .map(([k, v]) => [k, k.startsWith("created_") ? toInstant(v) : v.trim()])
      .filter(([, v]) => v);
    const query = new URLSearchParams([["limit", "20"], ...sent, ...Object.entries(cursor)]);
    api<{ data: Summary[]; paging: Paging }>("GET", `${P}/workflows/${workflowId}/executions?${query}`)
      .then((page) => { setRows(page.data); setPaging(page.paging); setError(null); })
      .catch((exc) => setError(errorText(exc)));
  }, [workflowId, filters, cursor]);
  const change = (next: Filters) => { setFilters(next); setCursor({}); };
  const filtered = FILTER_NAMES.some((name) => filters[name]);
  return (
    <main className="page">
      <div className="page-head">
        <h1>Executions</h1>
        <button onClick={() => navigate(`/console/flows/${workflowId}`)}>Open editor</button>
      </div>
      <FilterBar filters={filters} onChange={change} />
      <ErrorBox error={error} />
      {rows && rows.length === 0 && <p className="empty">{filtered ? "No executions match these filters." : "No executions yet: start one from the test chat."}</p>}
      {rows && rows.length > 0 && (
        <table className="flows">
          <thead><tr><th>Execution</th><th>Status</th><th>At node</th><th>Conversation</th><th>Started</th><th>Last event</th></tr></thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.id}>
                <td><a href={`/console/executions/${row.id}`} onClick={go(`/console/executions/${row.id}`)}>{row.id.slice(0, 13)}…</a></td>
                <td><span className={`badge ${row.status}`}>{row.status}</span></td>
                <td>{row.current_step?.identifier ?? "—"}</td>
                <td>
                  {row.whatsapp_conversation_id ? (
                    <button className="link" title="Only this conversation's executions" onClick={() => change({ ...filters, whatsapp_conversation_id: row.whatsapp_conversation_id! })}>
                      {row.whatsapp_conversation_id.slice(0, 13)}…
                    </button>
                  ) : "—"}
                </td>
                <td>{new Date(row.started_at).toLocaleString()}</td>
                <td>{new Date(row.last_event_at).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        <button disabled={!paging.previous} onClick={() => setCursor({ before: paging.previous! })}>← Newer</button>
        <button disabled={!paging.next} onClick={() => setCursor({ after: paging.next! })}>Older →</button>
      </div>
    </main>
  );
}

function Tree({ value, name }: { value: unknown; name: string }) {
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    return (
      <details open={entries.length <= 8}>
        <summary>{name} <span className="muted">{Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`}</span></summary>
        <div className="tree">{entries.map(([k, v]) => <Tree key={k} name={k} value={v} />)}</div>
      </details>
    );
  }
  return <div className="leaf"><span className="key">{name}</span>: <code>{JSON.stringify(value)}</code></div>;
}

// The nodes the execution entered, and the edges it took (a step_completed's label
// leading to the next step_entered).
function pathOf(events: Event[]): { visited: Set<string>; taken: Set<string> } {
  const visited = new Set<string>();
  const taken = new Set<string>();
  let leaving: { node: string; label: string } | null = null;
  for (const event of events) {
    const node = event.step?.identifier;
    if (!node) continue;
    if (event.event_type === "step_entered") {
      if (leaving) taken.add(`${leaving.node}|${leaving.label}|${node}`);
      visited.add(node);
      leaving = null;
    } else if (event.event_type === "step_completed") {
      leaving = { node, label: event.edge_label ?? "next" };
    }
  }
  return { visited, taken };
}

// The detail with what its stream brought since: new events appended (one copy per event
// id: a reconnect may repeat one), the execution's newest state. One pass per batch, so a
// burst of n events costs O(n + events held), not a scan of the timeline per event.
function withStreamed(old: Detail, batch: StreamEvent[]): Detail {
  const known = new Set(old.events.map((event) => event.id));
  const events = [...old.events];
  let state: Partial<Detail> = {};
  for (const e of batch) {
    if (e.event === "event" && !known.has(e.data.id)) {
      known.add(e.data.id);
      events.push(e.data as Event);
    } else if (e.event === "execution") {
      state = { ...state, ...(e.data as Partial<Detail>) };
    }
  }
  return { ...old, ...state, events: events.length === old.events.length ? old.events : events };
}

// A detail read again (after an action, or polling) with the events the stream delivered
// after that read was made: they are newer than its newest and would otherwise vanish.
function withNewer(read: Detail, old: Detail | null): Detail {
  const newest = read.events.length ? read.events[read.events.length - 1].sequence : 0;
  const newer = (old?.events ?? []).filter((event) => event.sequence > newest);
  return newer.length ? { ...read, events: [...read.events, ...newer] } : read;
}

function Inspector({ executionId }: { executionId: string }) {
  const [detail, setDetail] = useState<Detail | null>(null);
  const [graph, setGraph] = useState<{ nodes: CardNode[]; edges: Edge[] }>({ nodes: [], edges: [] });
  const [types, setTypes] = useState<Record<string, NodeTypeInfo>>({});
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [input, setInput] = useState("");
  const [version, setVersion] = useState<{ number: number; current: boolean } | null>(null);

  const load = useCallback(async () => {
    try {
      const read = (await api<Envelope<Detail>>("GET", `${P}/workflow_executions/${executionId}`)).data;
      // The graph of the version the execution runs, so the path matches after edits.
      const graphPath = read.workflow_version_id
        ? `${P}/workflows/${read.workflow.id}/versions/${read.workflow_version_id}`
        : `${P}/workflows/${read.workflow.id}/definition`;
      const [pinned, catalogue] = await Promise.all([
        api<Envelope<{ definition: Definition; number?: number; current?: boolean }>>("GET", graphPath),
        loadNodeTypes(),
      ]);
      setDetail((old) => withNewer(read, old));
      setVersion(pinned.data.number ? { number: pinned.data.number, current: Boolean(pinned.data.current) } : null);
      setGraph(toFlow(pinned.data.definition));
      setTypes(Object.fromEntries(catalogue.map((t) => [t.type, t])));
    } catch (exc) {
      setError(errorText(exc));
    }
  }, [executionId]);
  useEffect(() => void load(), [load]);

  // New events and the execution's state as they happen. The stream resumes after the
  // newest event loaded (its `sequence` as Last-Event-ID): it brings only what came since,
  // not the whole timeline again. Events that arrive together are applied together.
  const pending = useRef<StreamEvent[]>([]);
  const onEvent = useCallback((e: StreamEvent) => {
    pending.current.push(e);
    if (pending.current.length > 1) return; // this batch's update is already scheduled
    window.setTimeout(() => {
      const batch = pending.current;
      pending.current = [];
      setDetail((old) => (old ? withStreamed(old, batch) : old));
    }, 0);
  }, []);
  const loaded = detail !== null;
  const newest = detail?.events.length ? String(detail.events[detail.events.length - 1].sequence) : null;
  const stream = useStream(loaded ? `${P}/workflow_executions/${executionId}/events/stream` : null, onEvent, newest);
  useEffect(() => {
    if (!stream.failed) return;
    const timer = window.setInterval(() => void load(), POLL_MS);
    return () => window.clearInterval(timer);
  }, [stream.failed, load]);

  const path = useMemo(() => pathOf(detail?.events ?? []), [detail]);
  const edges = useMemo(() => graph.edges.map((e) => {
    const on = path.taken.has(`${e.source}|${e.label ?? "next"}|${e.target}`);
    return on ? { ...e, animated: true, className: "taken" } : e;
  }), [graph, path]);
  const context = useMemo(() => ({ types, problems: {}, current: detail?.current_step?.identifier, visited: path.visited }), [types, detail, path]);

  async function act(body: () => Promise<unknown>, done: string) {
    setError(null);
    try {
      await body();
      setNotice(done);
      await load();
    } catch (exc) {
      setError(errorText(exc));
    }
  }
  const setStatus = (status: string) =>
    act(() => api("PATCH", `${P}/workflow_executions/${executionId}`, { workflow_execution: { status } }), `Now ${status}.`);
  const resume = (e: React.FormEvent) => {
    e.preventDefault();
    void act(() => api("POST", `${P}/workflow_executions/${executionId}/resume`, { message: { data: input } }), "Resumed.");
  };

  if (!detail) return <main className="page"><ErrorBox error={error} />{!error && <p className="loading">Loading…</p>}</main>;
  const open = !["ended", "failed"].includes(detail.status);
  return (
    <main className="chat-page">
      <div className="toolbar">
        <h1>Execution of <a href={`/console/flows/${detail.workflow.id}`} onClick={go(`/console/flows/${detail.workflow.id}`)}>{detail.workflow.name}</a>
          <span className={`badge ${detail.status}`} data-testid="inspector-status">{detail.status}</span></h1>
        {version && <span className="hint" data-testid="pinned-version">definition v{version.number}{version.current ? " (current)" : " (not the current one)"}</span>}
        <button onClick={() => navigate(`/console/flows/${detail.workflow.id}/executions`)}>All executions</button>
        {open && <button onClick={() => setStatus("ended")}>End</button>}
        {open && detail.status !== "handoff" && <button onClick={() => setStatus("handoff")}>Hand off</button>}
        {detail.status === "waiting" && (
          <form className="inline" onSubmit={resume}>
            <input aria-label="Resume with input" placeholder="Resume with input" value={input} onChange={(e) => setInput(e.target.value)} />
            <button type="submit">Resume</button>
          </form>
        )}
      </div>
      <ErrorBox error={error} onClose={() => setError(null)} />
      <Notice text={notice ?? stream.failed} />
      {detail.error_details != null && <ErrorBox error={`The execution failed: ${JSON.stringify(detail.error_details)}`} />}
      <div className="inspector-layout">
        <section className="timeline" aria-label="Events">
          <AgentTurns events={detail.events} />
          <h2>Events</h2>
          <ol>
            {detail.events.map((event) => (
              <li key={event.id} className={`event ${event.event_type}`}>
                <span className="time">{new Date(event.created_at).toLocaleTimeString()}</span>{" "}
                <strong>{event.event_type.replace(/_/g, " ")}</strong>
                {event.step?.identifier && <> at <code>{event.step.identifier}</code></>}
                {event.edge_label && event.edge_label !== "next" && <> → “{event.edge_label}”</>}
                {Object.keys(event.payload ?? {}).length > 0 && <div className="payload">{JSON.stringify(event.payload)}</div>}
              </li>
            ))}
          </ol>
        </section>
        <section className="graph-view" aria-label="Path taken">
          <EditorContext.Provider value={context}>
            <ReactFlow nodes={graph.nodes} edges={edges} nodeTypes={NODE_TYPES} nodesDraggable={false} nodesConnectable={false} fitView minZoom={0.1}>
              <Background />
              <Controls showInteractive={false} />
            </ReactFlow>
          </EditorContext.Provider>
        </section>
        <section className="vars" aria-label="Context">
          <h2>Context</h2>
          {Object.entries(detail.execution_context ?? {}).map(([k, v]) => <Tree key={k} name={k} value={v} />)}
        </section>
      </div>
    </main>
  );
}

export default function ExecutionsPage({ workflowId, executionId }: { workflowId?: string; executionId?: string }) {
  if (executionId) {
    // Keyed by the id: another execution is a new inspector, none of this one's state
    // (events, which `withNewer` would merge into the next one's, stream position,
    // notices) carried over. App.tsx keys the page by the id too; this does not rely on it.
    return <ReactFlowProvider><Inspector key={executionId} executionId={executionId} /></ReactFlowProvider>;
  }
  return <ExecutionsList workflowId={workflowId!} />;
}
