import { useEffect, useRef, useState } from "react";
import { api, ApiError, Definition, errorText, P, Workflow } from "./api";
import { navigate } from "./router";
import { download, ErrorBox, Notice } from "./ui";

const STARTER: Definition = {
  nodes: [{ id: "start", type: "flow-node", position: { x: 0, y: 0 }, data: { node_type: "start", config: {}, display_name: "Start" } }],
  edges: [],
};

type Envelope<T> = { data: T };

// A file exported by Kapso or by this console: {name, definition} or a bare {nodes, edges}.
function parseImport(fileName: string, text: string): { name: string; description?: string; definition: Definition } {
  const parsed = JSON.parse(text);
  if (parsed && Array.isArray(parsed.nodes)) return { name: fileName.replace(/\.json$/i, ""), definition: parsed };
  const inner = parsed?.flow ?? parsed?.workflow ?? parsed;
  if (inner && inner.definition && Array.isArray(inner.definition.nodes)) {
    return { name: inner.name ?? fileName.replace(/\.json$/i, ""), description: inner.description ?? undefined, definition: inner.definition };
  }
  throw new Error(`${fileName} is not a flow: expected {"nodes": [...], "edges": [...]} or {"name": ..., "definition": {...}}`);
}

function RenameCell({ flow, onDone }: { flow: Workflow; onDone: (error?: string) => void }) {
  const [name, setName] = useState(flow.name);
  async function save(event: React.FormEvent) {
    event.preventDefault();
    try {
      await api("PATCH", `${P}/workflows/${flow.id}`, { workflow: { name, lock_version: flow.lock_version } });
      onDone();
    } catch (exc) {
      onDone(errorText(exc));
    }
  }
  return (
    <form onSubmit={save} className="inline">
      <input aria-label="New name" value={name} onChange={(e) => setName(e.target.value)} autoFocus />
      <button type="submit">Save</button>
      <button type="button" onClick={() => onDone()}>Cancel</button>
    </form>
  );
}

// Delete asks first, in the row (a keyboard reaches it, unlike a native dialog's timing);
// while executions run or wait the API answers 409, and "End them and delete" forces it.
function DeleteConfirm({ flow, onDone }: { flow: Workflow; onDone: (deleted: boolean, error?: string) => void }) {
  const [active, setActive] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function remove(force: boolean) {
    setBusy(true);
    try {
      await api("DELETE", `${P}/workflows/${flow.id}${force ? "?force=true" : ""}`);
      onDone(true);
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 409) setActive(`The server refused: ${exc.message}. “End them and delete” ends them now.`);
      else onDone(false, errorText(exc));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="confirm" role="group" aria-label={`Delete ${flow.name}`}>
      <span>{active ?? `Delete “${flow.name}”? Its executions stay readable; the flow cannot be restored.`}</span>
      {active ? (
        <button className="danger" disabled={busy} onClick={() => remove(true)}>End them and delete</button>
      ) : (
        <button className="danger" disabled={busy} onClick={() => remove(false)} autoFocus>Yes, delete</button>
      )}
      <button onClick={() => onDone(false)}>Cancel</button>
    </div>
  );
}

export function FlowsPage() {
  const [flows, setFlows] = useState<Workflow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [renaming, setRenaming] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  async function load() {
    try {
      setFlows((await api<Envelope<Workflow[]>>("GET", `${P}/workflows`)).data);
    } catch (exc) {
      setError(errorText(exc));
    }
  }
  useEffect(() => {
    void load();
  }, []);

  async function run(action: () => Promise<unknown>, done?: string) {
    setError(null);
    setNotice(null);
    try {
      await action();
      if (done) setNotice(done);
      await load();
    } catch (exc) {
      setError(errorText(exc));
    }
  }

  async function create(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      const created = await api<Envelope<Workflow>>("POST", `${P}/workflows`, { workflow: { name: name.trim(), definition: STARTER } });
      navigate(`/console/flows/${created.data.id}`);
    } catch (exc) {
      setError(errorText(exc));
    }
  }

  const setStatus = (flow: Workflow, status: Workflow["status"]) =>
    run(() => api("PATCH", `${P}/workflows/${flow.id}`, { workflow: { status, lock_version: flow.lock_version } }), `${flow.name}: ${status}`);

  async function definitionOf(flow: Workflow): Promise<Definition> {
    const read = await api<Envelope<{ definition: Definition }>>("GET", `${P}/workflows/${flow.id}/definition`);
    return read.data.definition;
  }

  const duplicate = (flow: Workflow) =>
    run(async () => {
      const definition = await definitionOf(flow);
      await api("POST", `${P}/workflows`, { workflow: { name: `${flow.name} (copy)`, description: flow.description, definition } });
    }, `Duplicated ${flow.name}`);

  const exportFlow = (flow: Workflow) =>
    run(async () => {
      const definition = await definitionOf(flow);
      download(`${flow.name.replace(/[^\w.-]+/g, "_")}.json`, { name: flow.name, description: flow.description, definition });
    });

  async function importFile(event: React.ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    event.target.value = "";
    if (!file) return;
    await run(async () => {
      const flow = parseImport(file.name, await file.text());
      await api("POST", `${P}/workflows`, { workflow: flow });
    }, `Imported ${file.name}`);
  }

  return (
    <main className="page">
      <div className="page-head">
        <h1>Flows</h1>
        <form onSubmit={create} className="inline">
          <input aria-label="New flow name" placeholder="New flow name" value={name} onChange={(e) => setName(e.target.value)} />
          <button type="submit" className="primary" disabled={!name.trim()}>Create flow</button>
        </form>
        <button onClick={() => fileInput.current?.click()}>Import JSON…</button>
        <input ref={fileInput} type="file" accept="application/json,.json" hidden onChange={importFile} data-testid="import-file" />
      </div>
      <ErrorBox error={error} onClose={() => setError(null)} />
      <Notice text={notice} />
      {flows === null ? (
        <p className="loading">Loading…</p>
      ) : flows.length === 0 ? (
        <p className="empty">No flows yet: create one above, or import a JSON file exported from Kapso or this console.</p>
      ) : (
        <table className="flows">
          <thead>
            <tr><th>Name</th><th>Status</th><th>Problems</th><th>Runs</th><th>Last run</th><th>Actions</th></tr>
          </thead>
          <tbody>
            {flows.map((flow) => (
              <tr key={flow.id}>
                <td>
                  {renaming === flow.id ? (
                    <RenameCell flow={flow} onDone={(err) => { setRenaming(null); if (err) setError(err); else void load(); }} />
                  ) : (
                    <a href={`/console/flows/${flow.id}`} onClick={(e) => { e.preventDefault(); navigate(`/console/flows/${flow.id}`); }}>{flow.name}</a>
                  )}
                </td>
                <td><span className={`badge ${flow.status}`}>{flow.status}</span></td>
                <td data-label="Problems">{flow.validation.valid ? "none" : `${flow.validation.errors.length} error(s)`}</td>
                <td data-label="Runs">{flow.execution_count}</td>
                <td data-label="Last run">{flow.last_executed_at ? new Date(flow.last_executed_at).toLocaleString() : "never"}</td>
                <td className="actions">
                  <button onClick={() => navigate(`/console/flows/${flow.id}/chat`)}>Test chat</button>
                  <button onClick={() => navigate(`/console/flows/${flow.id}/executions`)}>Executions</button>
                  <button onClick={() => setRenaming(flow.id)}>Rename</button>
                  {flow.status !== "active" && <button onClick={() => setStatus(flow, "active")}>Activate</button>}
                  {flow.status !== "archived" && <button onClick={() => setStatus(flow, "archived")}>Archive</button>}
                  {flow.status === "archived" && <button onClick={() => setStatus(flow, "draft")}>Restore as draft</button>}
                  <button onClick={() => duplicate(flow)}>Duplicate</button>
                  <button onClick={() => exportFlow(flow)}>Export</button>
                  <button className="danger" onClick={() => setDeleting(flow.id)}>Delete</button>
                  {deleting === flow.id && (
                    <DeleteConfirm flow={flow} onDone={(deleted, err) => {
                      setDeleting(null);
                      if (err) setError(err);
                      if (deleted) { setNotice(`Deleted ${flow.name}`); void load(); }
                    }} />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
