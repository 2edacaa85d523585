import { useCallback, useEffect, useState } from "react";
import { api, errorText, P } from "./api";
import { ErrorBox, Notice } from "./ui";

// Settings: WhatsApp numbers (connect: the API checks the number with Meta's Graph API;
// edit; deactivate = stop routing its messages to flows), project webhooks (edit,
// deactivate) with their delivery log, API keys (a new key is shown once).

type PhoneNumber = { phone_number_id: string; name: string; display_phone_number: string | null; verified_name: string | null; webhook_verified_at: string | null; inbound_processing_enabled: boolean };
type Webhook = { id: string; url: string; events: string[]; active: boolean; headers?: Record<string, string> };
type Delivery = { id: string; event: string; status: string; response_status: number | null; attempt_count: number; created_at: string; webhook_url: string; last_error: string | null };
type ApiKey = { id: string; name: string | null; prefix: string; created_at: string; revoked_at: string | null; active: boolean };

// One section's rows, loaded from `path`, reloaded after every change.
function useRows<T>(path: string) {
  const [rows, setRows] = useState<T[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    api<{ data: T[] }>("GET", path).then((r) => { setRows(r.data); setError(null); }).catch((exc) => setError(errorText(exc)));
  }, [path]);
  useEffect(() => { load(); }, [load]);
  return { rows, error, setError, load };
}

// Runs one change, shows its error in words or the notice, then reloads.
function useAction(setError: (e: string | null) => void, reload: () => void) {
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  async function run(label: string, change: () => Promise<unknown>): Promise<boolean> {
    setBusy(true);
    setError(null);
    try {
      await change();
      setNotice(label);
      reload();
      return true;
    } catch (exc) {
      setError(errorText(exc));
      return false;
    } finally {
      setBusy(false);
    }
  }
  return { busy, notice, run };
}

function Field({ id, label, value, onChange, type = "text" }: { id: string; label: string; value: string; onChange: (v: string) => void; type?: string }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} type={type} autoComplete="off" value={value} onChange={(e) => onChange(e.target.value)} />
    </div>
  );
}

// Edits a connected number: a blank secret keeps the stored one (a new access token is
// checked with Meta's Graph API again, like a connect).
function EditNumber({ number, busy, onSave, onCancel }: { number: PhoneNumber; busy: boolean; onSave: (fields: Record<string, string>) => void; onCancel: () => void }) {
  const [form, setForm] = useState({ name: number.name, access_token: "", app_secret: "", verify_token: "" });
  const set = (key: keyof typeof form) => (value: string) => setForm({ ...form, [key]: value });
  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    onSave(Object.fromEntries(Object.entries(form).filter(([key, v]) => v.trim() && (key !== "name" || v.trim() !== number.name))));
  };
  return (
    <>
    <h3>Edit number <code>{number.phone_number_id}</code></h3>
    <form className="grid" onSubmit={submit} aria-label={`Edit number ${number.phone_number_id}`}>
      <Field id="pe-name" label="Name" value={form.name} onChange={set("name")} />
      <Field id="pe-token" label="New access token (blank: keep)" type="password" value={form.access_token} onChange={set("access_token")} />
      <Field id="pe-secret" label="New app secret (blank: keep)" type="password" value={form.app_secret} onChange={set("app_secret")} />
      <Field id="pe-verify" label="New verify token (blank: keep)" value={form.verify_token} onChange={set("verify_token")} />
      <button type="submit" className="primary" disabled={busy}>Save number</button>
      <button type="button" onClick={onCancel}>Cancel</button>
    </form>
    </>
  );
}

function PhoneNumbers() {
  const { rows, error, setError, load } = useRows<PhoneNumber>(`${P}/whatsapp/phone_numbers?per_page=100`);
  const { busy, notice, run } = useAction(setError, load);
  const [form, setForm] = useState({ phone_number_id: "", access_token: "", app_secret: "", verify_token: "", name: "" });
  const set = (key: keyof typeof form) => (value: string) => setForm({ ...form, [key]: value });
  const [editing, setEditing] = useState<string | null>(null);
  const webhookUrl = `${window.location.origin}/webhooks/whatsapp`;
  const patch = (id: string, label: string, fields: Record<string, unknown>) =>
    run(label, () => api("PATCH", `${P}/whatsapp/phone_numbers/${id}`, { whatsapp_phone_number: fields }));
  const editedNumber = rows?.find((n) => n.phone_number_id === editing);
  const connect = async (event: React.FormEvent) => {
    event.preventDefault();
    const fields = Object.fromEntries(Object.entries(form).filter(([, v]) => v.trim()));
    if (await run("Number connected (Meta confirmed it).", () => api("POST", `${P}/whatsapp/phone_numbers`, { whatsapp_phone_number: fields })))
      setForm({ phone_number_id: "", access_token: "", app_secret: "", verify_token: "", name: "" });
  };
  return (
    <section aria-labelledby="numbers-title">
      <h2 id="numbers-title">WhatsApp numbers</h2>
      <ErrorBox error={error} onClose={() => setError(null)} />
      <Notice text={notice} />
      {rows && rows.length === 0 && <p className="empty">No number connected yet.</p>}
      {rows && rows.length > 0 && (
        <table className="flows">
          <thead><tr><th>Name</th><th>Number</th><th>Phone number id</th><th>Webhook verified</th><th>Flows</th><th></th></tr></thead>
          <tbody>
            {rows.map((n) => (
              <tr key={n.phone_number_id}>
                <td data-label="Name">{n.name}{n.verified_name && n.verified_name !== n.name ? ` (${n.verified_name})` : ""}</td>
                <td data-label="Number">{n.display_phone_number ?? "—"}</td>
                <td data-label="Id"><code>{n.phone_number_id}</code></td>
                <td data-label="Webhook verified">{n.webhook_verified_at ? new Date(n.webhook_verified_at).toLocaleString() : "not yet"}</td>
                <td data-label="Flows">
                  <span className={`badge ${n.inbound_processing_enabled ? "active" : "archived"}`}>{n.inbound_processing_enabled ? "active" : "inactive"}</span>
                </td>
                <td>
                  <button disabled={busy} onClick={() => setEditing(n.phone_number_id)} aria-label={`Edit ${n.phone_number_id}`}>Edit</button>{" "}
                  {n.inbound_processing_enabled
                    ? <button disabled={busy} onClick={() => patch(n.phone_number_id, "Number deactivated: its messages are kept, not routed to flows.", { inbound_processing_enabled: false })} aria-label={`Deactivate ${n.phone_number_id}`}>Deactivate</button>
                    : <button disabled={busy} onClick={() => patch(n.phone_number_id, "Number activated: its messages go to flows again.", { inbound_processing_enabled: true })} aria-label={`Activate ${n.phone_number_id}`}>Activate</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editedNumber && (
        <EditNumber key={editedNumber.phone_number_id} number={editedNumber} busy={busy} onCancel={() => setEditing(null)}
          onSave={async (fields) => { if (await patch(editedNumber.phone_number_id, "Number saved.", fields)) setEditing(null); }} />
      )}
      <h3>Connect a number</h3>
      <p className="hint">
        From Meta's app dashboard (WhatsApp → API setup). convoflow asks Meta's Graph API about the number with the token before saving it.
        Then, in Meta's WhatsApp → Configuration, set the callback URL to <code>{webhookUrl}</code> and the verify token to the one you type here,
        and subscribe to <code>messages</code>.
      </p>
      <form className="grid" onSubmit={connect} aria-label="Connect a number">
        <Field id="pn-id" label="Phone number id" value={form.phone_number_id} onChange={set("phone_number_id")} />
        <Field id="pn-token" label="Access token" type="password" value={form.access_token} onChange={set("access_token")} />
        <Field id="pn-secret" label="App secret" type="password" value={form.app_secret} onChange={set("app_secret")} />
        <Field id="pn-verify" label="Webhook verify token" value={form.verify_token} onChange={set("verify_token")} />
        <Field id="pn-name" label="Name (optional)" value={form.name} onChange={set("name")} />
        <button type="submit" className="primary" disabled={busy || !form.phone_number_id.trim() || !form.access_token.trim()}>Connect</button>
      </form>
    </section>
  );
}

// A new URL would receive the stored (masked) custom headers, so the API refuses a URL
// change unless they are sent again with real values or removed: ask for them here.
function EditWebhook({ hook, busy, onSave, onCancel }: { hook: Webhook; busy: boolean; onSave: (fields: Record<string, unknown>) => void; onCancel: () => void }) {
  const [url, setUrl] = useState(hook.url);
  const [events, setEvents] = useState(hook.events.join(", "));
  const names = Object.keys(hook.headers ?? {});
  const [values, setValues] = useState<Record<string, string>>({});
  const [removeHeaders, setRemoveHeaders] = useState(false);
  const needHeaders = names.length > 0 && url.trim() !== hook.url;
  const headersReady = !needHeaders || removeHeaders || names.every((n) => (values[n] ?? "") !== "");
  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    const fields: Record<string, unknown> = { url: url.trim(), events: events.split(",").map((e) => e.trim()).filter(Boolean) };
    if (needHeaders) fields.headers = removeHeaders ? {} : Object.fromEntries(names.map((n) => [n, values[n]]));
    onSave(fields);
  };
  return (
    <form className="grid" onSubmit={submit} aria-label="Edit the webhook">
      <Field id="we-url" label="Webhook URL" value={url} onChange={setUrl} />
      <Field id="we-events" label="Webhook events (comma-separated)" value={events} onChange={setEvents} />
      {needHeaders && (
        <fieldset>
          <legend>Custom headers</legend>
          <p>The URL changes: type the value of each custom header again (stored values are never sent to a new URL), or remove them.</p>
          {!removeHeaders && names.map((n, i) => (
            <span key={n}>
              <label htmlFor={`we-header-${i}`}>Value of {n}</label>
              <input id={`we-header-${i}`} type="password" autoComplete="off" value={values[n] ?? ""}
                onChange={(e) => setValues({ ...values, [n]: e.target.value })} />
            </span>
          ))}
          <label><input type="checkbox" checked={removeHeaders} onChange={(e) => setRemoveHeaders(e.target.checked)} /> Remove the custom headers</label>
        </fieldset>
      )}
      <button type="submit" className="primary" disabled={busy || !url.trim() || !headersReady}>Save webhook</button>
      <button type="button" onClick={onCancel}>Cancel</button>
    </form>
  );
}

function Webhooks() {
  const { rows, error, setError, load } = useRows<Webhook>(`${P}/whatsapp/webhooks?per_page=100`);
  const log = useRows<Delivery>(`${P}/webhook_deliveries?period=7d&limit=50`);
  const { busy, notice, run } = useAction(setError, () => { load(); log.load(); });
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState("whatsapp.message.received");
  const [editing, setEditing] = useState<string | null>(null);
  const patch = (id: string, label: string, fields: Record<string, unknown>) =>
    run(label, () => api("PATCH", `${P}/whatsapp/webhooks/${id}`, { whatsapp_webhook: fields }));
  const create = async (event: React.FormEvent) => {
    event.preventDefault();
    const list = events.split(",").map((e) => e.trim()).filter(Boolean);
    if (await run("Webhook added.", () => api("POST", `${P}/whatsapp/webhooks`, { whatsapp_webhook: { url: url.trim(), events: list } }))) setUrl("");
  };
  return (
    <section aria-labelledby="webhooks-title">
      <h2 id="webhooks-title">Project webhooks</h2>
      <ErrorBox error={error ?? log.error} onClose={() => setError(null)} />
      <Notice text={notice} />
      {rows && rows.length === 0 && <p className="empty">No webhooks.</p>}
      <ul>
        {rows?.map((w) => (
          <li key={w.id}>
            <code>{w.url}</code> {w.events.join(", ")} {!w.active && <span className="badge">inactive</span>}{" "}
            <button disabled={busy} onClick={() => run("Test delivery queued.", () => api("POST", `${P}/whatsapp/webhooks/${w.id}/test`, {}))}>Send test</button>{" "}
            <button disabled={busy} onClick={() => setEditing(w.id)}>Edit</button>{" "}
            {w.active
              ? <button disabled={busy} onClick={() => patch(w.id, "Webhook deactivated: nothing is sent to it.", { active: false })}>Deactivate</button>
              : <button disabled={busy} onClick={() => patch(w.id, "Webhook activated.", { active: true })}>Activate</button>}{" "}
            <button className="danger" disabled={busy} onClick={() => run("Webhook deleted.", () => api("DELETE", `${P}/whatsapp/webhooks/${w.id}`))}>Delete</button>
            {editing === w.id && (
              <EditWebhook hook={w} busy={busy} onCancel={() => setEditing(null)}
                onSave={async (fields) => { if (await patch(w.id, "Webhook saved.", fields)) setEditing(null); }} />
            )}
          </li>
        ))}
      </ul>
      <form className="grid" onSubmit={create} aria-label="Add a webhook">
        <Field id="wh-url" label="URL" value={url} onChange={setUrl} />
        <Field id="wh-events" label="Events (comma-separated)" value={events} onChange={setEvents} />
        <button type="submit" className="primary" disabled={busy || !url.trim()}>Add webhook</button>
      </form>
      <h3>Delivery log (last 7 days) <button onClick={log.load}>Refresh</button></h3>
      {log.rows && log.rows.length === 0 && <p className="empty">No deliveries.</p>}
      {log.rows && log.rows.length > 0 && (
        <table className="flows">
          <thead><tr><th>When</th><th>Event</th><th>URL</th><th>Status</th><th>HTTP</th><th>Attempts</th><th>Last error</th></tr></thead>
          <tbody>
            {log.rows.map((d) => (
              <tr key={d.id}>
                <td data-label="When">{new Date(d.created_at).toLocaleString()}</td>
                <td data-label="Event">{d.event}</td>
                <td data-label="URL"><code>{d.webhook_url}</code></td>
                <td data-label="Status"><span className={`badge ${d.status}`}>{d.status}</span></td>
                <td data-label="HTTP">{d.response_status ?? "—"}</td>
                <td data-label="Attempts">{d.attempt_count}</td>
                <td data-label="Last error">{d.last_error ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function ApiKeys() {
  const { rows, error, setError, load } = useRows<ApiKey>(`${P}/api_keys`);
  const { busy, notice, run } = useAction(setError, load);
  const [name, setName] = useState("");
  const [created, setCreated] = useState<string | null>(null);
  const create = async (event: React.FormEvent) => {
    event.preventDefault();
    await run("Key created.", async () => {
      const answer = await api<{ data: { key: string } }>("POST", `${P}/api_keys`, name.trim() ? { name: name.trim() } : {});
      setCreated(answer.data.key);
      setName("");
    });
  };
  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <ErrorBox error={error} onClose={() => setError(null)} />
      <Notice text={notice} />
      {created && (
        <div className="secret-once" role="status">
          Copy this key now: it is not shown again. <code data-testid="new-key">{created}</code>{" "}
          <button onClick={() => setCreated(null)}>Done</button>
        </div>
      )}
      <table className="flows">
        <thead><tr><th>Name</th><th>Starts with</th><th>Created</th><th>State</th><th></th></tr></thead>
        <tbody>
          {rows?.map((k) => (
            <tr key={k.id}>
              <td data-label="Name">{k.name ?? "—"}</td>
              <td data-label="Starts with"><code>{k.prefix}…</code></td>
              <td data-label="Created">{new Date(k.created_at).toLocaleString()}</td>
              <td data-label="State"><span className={`badge ${k.active ? "active" : "archived"}`}>{k.active ? "active" : "revoked"}</span></td>
              <td>{k.active && <button className="danger" disabled={busy} onClick={() => run("Key revoked.", () => api("DELETE", `${P}/api_keys/${k.id}`))} aria-label={`Revoke ${k.name ?? k.prefix}`}>Revoke</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="inline" onSubmit={create} aria-label="Create an API key">
        <label htmlFor="key-name">Name</label>
        <input id="key-name" value={name} onChange={(e) => setName(e.target.value)} />
        <button type="submit" className="primary" disabled={busy}>Create key</button>
      </form>
    </section>
  );
}

export default function SettingsPage() {
  return (
    <main className="page settings">
      <div className="page-head"><h1>Settings</h1></div>
      <PhoneNumbers />
      <Webhooks />
      <ApiKeys />
    </main>
  );
}
