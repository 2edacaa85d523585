import { useEffect, useState } from "react";
import { api, Definition, errorText, FlowEdge, FlowNode, P } from "./api";
import { ErrorBox } from "./ui";

// The editor's version history: every save is an immutable version on the server
// (GET /workflows/{id}/versions). Two versions compare as lists of node and edge
// changes; "Restore" saves an old version's definition as the new current one.

export type VersionInfo = {
  id: string;
  number: number;
  created_at: string;
  current: boolean;
  node_count: number;
  edge_count: number;
};
type Envelope<T> = { data: T };

export type Change = { kind: "added" | "removed" | "changed" | "moved"; what: string };

const edgeKey = (e: FlowEdge) => `${e.source} —${e.label ?? "next"}→`;

// Node identity is the id; an edge is identified by where it leaves from (node + label),
// so re-pointing an edge reads as "changed" rather than one removal and one addition.
export function diffDefinitions(before: Definition, after: Definition): Change[] {
  const changes: Change[] = [];
  const old = new Map(before.nodes.map((n) => [n.id, n]));
  const now = new Map(after.nodes.map((n) => [n.id, n]));
  for (const [id, node] of now) {
    const was = old.get(id);
    if (!was) changes.push({ kind: "added", what: `node ${id} (${node.data?.node_type})` });
    else {
      const fields = changedFields(was, node);
      if (fields.length) changes.push({ kind: "changed", what: `node ${id}: ${fields.join(", ")}` });
      else if (JSON.stringify(was.position) !== JSON.stringify(node.position)) changes.push({ kind: "moved", what: `node ${id}` });
    }
  }
  for (const [id, node] of old) if (!now.has(id)) changes.push({ kind: "removed", what: `node ${id} (${node.data?.node_type})` });
  const oldEdges = new Map(before.edges.map((e) => [edgeKey(e), e.target]));
  const newEdges = new Map(after.edges.map((e) => [edgeKey(e), e.target]));
  for (const [key, target] of newEdges) {
    const was = oldEdges.get(key);
    if (was === undefined) changes.push({ kind: "added", what: `edge ${key} ${target}` });
    else if (was !== target) changes.push({ kind: "changed", what: `edge ${key} ${was} ⇒ ${target}` });
  }
  for (const [key, target] of oldEdges) if (!newEdges.has(key)) changes.push({ kind: "removed", what: `edge ${key} ${target}` });
  return changes;
}

function changedFields(was: FlowNode, node: FlowNode): string[] {
  const fields: string[] = [];
  if (was.data?.node_type !== node.data?.node_type) fields.push("type");
  if ((was.data?.display_name ?? "") !== (node.data?.display_name ?? "")) fields.push("name");
  const a = was.data?.config ?? {};
  const b = node.data?.config ?? {};
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) fields.push(key);
  }
  return fields;
}

const when = (iso: string) => new Date(iso).toLocaleString();

export function HistoryPanel(props: { workflowId: string; refresh: number; dirty: boolean; onRestore: (definition: Definition, number: number) => void }) {
  const { workflowId, refresh } = props;
  const [versions, setVersions] = useState<VersionInfo[] | null>(null);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [changes, setChanges] = useState<Change[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [definitions] = useState(() => new Map<string, Definition>());

  async function definitionOf(id: string): Promise<Definition> {
    const known = definitions.get(id);
    if (known) return known;
    const read = await api<Envelope<{ definition: Definition }>>("GET", `${P}/workflows/${workflowId}/versions/${id}`);
    definitions.set(id, read.data.definition);
    return read.data.definition;
  }

  useEffect(() => {
    api<Envelope<VersionInfo[]>>("GET", `${P}/workflows/${workflowId}/versions`).then(
      (read) => {
        setVersions(read.data);
        setTo(read.data[0]?.id ?? "");
        setFrom(read.data[1]?.id ?? read.data[0]?.id ?? "");
      },
      (exc) => setError(errorText(exc)),
    );
  }, [workflowId, refresh]);

  useEffect(() => {
    if (!from || !to) return setChanges(null);
    let live = true;
    Promise.all([definitionOf(from), definitionOf(to)]).then(
      ([a, b]) => live && setChanges(diffDefinitions(a, b)),
      (exc) => live && setError(errorText(exc)),
    );
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [from, to]);

  async function restore(version: VersionInfo) {
    try {
      props.onRestore(await definitionOf(version.id), version.number);
    } catch (exc) {
      setError(errorText(exc));
    }
  }

  const label = (v: VersionInfo) => `v${v.number}${v.current ? " (current)" : ""} · ${when(v.created_at)}`;
  return (
    <aside className="side history" aria-label="Version history">
      <h2>Version history</h2>
      <ErrorBox error={error} onClose={() => setError(null)} />
      {!versions && !error && <p className="loading">Loading…</p>}
      {versions && versions.length === 0 && <p className="hint">Nothing saved yet.</p>}
      {versions && versions.length > 0 && (
        <>
          <div className="field">
            <label htmlFor="diff-from">Compare</label>
            <select id="diff-from" value={from} onChange={(e) => setFrom(e.target.value)}>
              {versions.map((v) => <option key={v.id} value={v.id}>{label(v)}</option>)}
            </select>
            <label htmlFor="diff-to">with</label>
            <select id="diff-to" value={to} onChange={(e) => setTo(e.target.value)}>
              {versions.map((v) => <option key={v.id} value={v.id}>{label(v)}</option>)}
            </select>
          </div>
          {changes && (
            <ul className="diff" aria-label="Changes">
              {changes.length === 0 && <li>No differences.</li>}
              {changes.map((c, i) => <li key={i} className={c.kind}><b>{c.kind}</b> {c.what}</li>)}
            </ul>
          )}
          {props.dirty && <p className="hint">Restoring drops your unsaved changes.</p>}
          <ol className="versions">
            {versions.map((v) => (
              <li key={v.id}>
                <span>{label(v)} — {v.node_count} nodes, {v.edge_count} edges</span>
                {!v.current && <button onClick={() => restore(v)} aria-label={`Restore version ${v.number}`}>Restore</button>}
              </li>
            ))}
          </ol>
        </>
      )}
    </aside>
  );
}
