import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, errorText, P } from "./api";
import { navigate } from "./router";
import { StreamEvent, useStream } from "./stream";
import { ErrorBox, Notice } from "./ui";

// The inbox: the project's conversations with their flow's state, one conversation's
// messages with delivery ticks, a human reply (Kapso's POST /whatsapp/messages, sent
// through the channel), and "Return to flow" / "End" on the conversation's execution.
// Only public API routes; new messages and ticks arrive by the project's and the open
// conversation's event streams (polling every 2 s if a stream fails).

type Conversation = {
  id: string;
  phone_number: string | null;
  status: string;
  channel: string;
  phone_number_id: string | null;
  last_active_at: string;
  created_at: string;
  kapso: { contact_name: string | null; last_message_text: string | null };
};
type Execution = { id: string; status: string; workflow: { id: string; name?: string }; current_step?: { identifier: string } | null };
type Message = {
  id: string;
  timestamp: string;
  type: string;
  kapso: { direction: "inbound" | "outbound"; status: string; content: string | null; error?: unknown };
};
type Filter = "all" | "waiting" | "handoff";
const FILTERS: [Filter, string][] = [["all", "All"], ["waiting", "Waiting"], ["handoff", "In handoff"]];
const POLL_MS = 2000;
const PAGE_SIZE = 50;

// WhatsApp's ticks, with words for screen readers and a title for the mouse.
const TICKS: Record<string, [string, string]> = {
  pending: ["◷", "pending"],
  sent: ["✓", "sent"],
  delivered: ["✓✓", "delivered"],
  read: ["✓✓", "read"],
  failed: ["✕", "failed"],
};

export function Ticks({ status }: { status: string }) {
  const [mark, label] = TICKS[status] ?? ["", status];
  return <span className={`ticks ${status}`} title={label} aria-label={label}>{mark}</span>;
}

function when(iso: string): string {
  const date = /^\d+$/.test(iso) ? new Date(Number(iso) * 1000) : new Date(iso);
  return date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

// The conversation's latest execution, which the filters and the actions are about.
async function latestExecution(conversationId: string): Promise<Execution | null> {
  const page = await api<{ data: Execution[] }>("GET", `${P}/whatsapp/conversations/${conversationId}/flow_executions?limit=1`);
  return page.data[0] ?? null;
}

// Newest first, as the API pages them (keyset on created_at, id).
function newestFirst(a: Conversation, b: Conversation): number {
  return b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id);
}

type Page = { data: Conversation[]; paging: { next: string | null } };

// The first page is read once (then polled only if the inbox stream fails); "Older
// conversations" follows the API's cursor. Every conversation loaded stays listed (a new
// one pushing an old one off the first page does not hide it), with its latest execution.
function useConversations(setError: (e: string | null) => void) {
  const [known, setKnown] = useState<Record<string, Conversation> | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const pagedOlder = useRef(false);
  const [executions, setExecutions] = useState<Record<string, Execution | null>>({});
  const seen = useRef<Record<string, string>>({});
  // An execution changes state with a message (or with our own action, `force`):
  // ask again only for conversations that moved.
  const track = useCallback(async (rows: Conversation[], force?: string) => {
    setKnown((old) => ({ ...old, ...Object.fromEntries(rows.map((c) => [c.id, c])) }));
    const moved = rows.filter((c) => c.id === force || seen.current[c.id] !== c.last_active_at);
    const found = await Promise.all(moved.map(async (c) => [c.id, await latestExecution(c.id)] as const));
    moved.forEach((c) => (seen.current[c.id] = c.last_active_at));
    if (found.length) setExecutions((old) => ({ ...old, ...Object.fromEntries(found) }));
  }, []);
  const refresh = useCallback(async (force?: string) => {
    try {
      const page = await api<Page>("GET", `${P}/whatsapp/conversations?limit=${PAGE_SIZE}`);
      if (!pagedOlder.current) setNext(page.paging.next);
      await track(page.data, force);
      setError(null);
    } catch (exc) {
      setError(errorText(exc));
    }
  }, [setError, track]);
  const loadOlder = useCallback(async () => {
    if (!next) return;
    try {
      const page = await api<Page>("GET", `${P}/whatsapp/conversations?limit=${PAGE_SIZE}&after=${encodeURIComponent(next)}`);
      pagedOlder.current = true;
      setNext(page.paging.next);
      await track(page.data);
    } catch (exc) {
      setError(errorText(exc));
    }
  }, [next, setError, track]);
  useEffect(() => void refresh(), [refresh]);
  // A conversation that got a message: its row, and its execution asked again.
  const onEvent = useCallback((e: StreamEvent) => {
    if (e.event !== "conversation") return;
    track([e.data as Conversation]).catch((exc) => setError(errorText(exc)));
  }, [setError, track]);
  const stream = useStream(`${P}/inbox/events/stream`, onEvent);
  useEffect(() => {
    if (!stream.failed) return;
    const timer = window.setInterval(() => void refresh(), POLL_MS);
    return () => window.clearInterval(timer);
  }, [refresh, stream.failed]);
  const rows = useMemo(() => (known ? Object.values(known).sort(newestFirst) : null), [known]);
  return { rows, executions, refresh, loadOlder: next ? loadOlder : null, failed: stream.failed };
}

function ConversationList(props: {
  rows: Conversation[] | null;
  executions: Record<string, Execution | null>;
  selected: string | undefined;
  loadOlder: (() => Promise<void>) | null;
}) {
  const [filter, setFilter] = useState<Filter>("all");
  const shown = (props.rows ?? []).filter((c) => filter === "all" || props.executions[c.id]?.status === filter);
  return (
    <section className="inbox-list" aria-label="Conversations">
      <div className="filters" role="group" aria-label="Show">
        {FILTERS.map(([value, label]) => (
          <button key={value} aria-pressed={filter === value} className={filter === value ? "primary" : ""} onClick={() => setFilter(value)}>
            {label}
          </button>
        ))}
      </div>
      {props.rows === null && <p className="loading">Loading…</p>}
      {props.rows && shown.length === 0 && <p className="empty">No conversations{filter === "all" ? " yet" : ` ${filter === "handoff" ? "in handoff" : "waiting"}`}.</p>}
      <ul>
        {shown.map((c) => {
          const execution = props.executions[c.id];
          return (
            <li key={c.id}>
              <a href={`/console/inbox/${c.id}`} aria-current={c.id === props.selected ? "true" : undefined}
                onClick={(e) => { e.preventDefault(); navigate(`/console/inbox/${c.id}`); }}>
                <strong>{c.kapso.contact_name || c.phone_number || c.id.slice(0, 8)}</strong>
                {execution && <span className={`badge ${execution.status}`}>{execution.status}</span>}
                {c.channel === "sandbox" && <span className="badge">sandbox</span>}
                <span className="preview">{c.kapso.last_message_text ?? ""}</span>
                <span className="muted">{when(c.last_active_at)}</span>
              </a>
            </li>
          );
        })}
      </ul>
      {props.loadOlder && <button className="older" onClick={() => void props.loadOlder?.()}>Older conversations</button>}
    </section>
  );
}

function Thread({ conversation, execution, onChanged }: { conversation: Conversation; execution: Execution | null; onChanged: () => void }) {
  const [messages, setMessages] = useState<Message[] | null>(null);
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const bottom = useRef<HTMLDivElement>(null);
  const load = useCallback(async () => {
    try {
      const page = await api<{ data: Message[] }>("GET", `${P}/whatsapp/messages?conversation_id=${conversation.id}&limit=100`);
      setMessages([...page.data].sort((a, b) => Number(a.timestamp) - Number(b.timestamp)));
    } catch (exc) {
      setError(errorText(exc));
    }
  }, [conversation.id]);
  useEffect(() => void load(), [load]);
  // New messages and status changes (ticks): one copy per message id, oldest first.
  const onEvent = useCallback((e: StreamEvent) => {
    if (e.event !== "message") return;
    const message = e.data as Message;
    setMessages((old) => [...(old ?? []).filter((m) => m.id !== message.id), message].sort((a, b) => Number(a.timestamp) - Number(b.timestamp)));
  }, []);
  const stream = useStream(`${P}/whatsapp/conversations/${conversation.id}/events/stream`, onEvent);
  useEffect(() => {
    if (!stream.failed) return;
    const timer = window.setInterval(() => void load(), POLL_MS);
    return () => window.clearInterval(timer);
  }, [load, stream.failed]);
  const count = messages?.length ?? 0;
  useEffect(() => { bottom.current?.scrollIntoView?.({ block: "end" }); }, [count]);

  async function act(label: string, run: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    try {
      await run();
      setNotice(label);
      onChanged();
      await load();
    } catch (exc) {
      setError(errorText(exc));
    } finally {
      setBusy(false);
    }
  }
  const reply = (event: React.FormEvent) => {
    event.preventDefault();
    const body = text.trim();
    if (!body) return;
    void act("Reply sent.", async () => {
      await api("POST", `${P}/whatsapp/messages`, { conversation_id: conversation.id, messaging_product: "whatsapp", type: "text", text: { body } });
      setText("");
    });
  };
  const setStatus = (status: "waiting" | "ended", label: string) =>
    execution && act(label, () => api("PATCH", `${P}/workflow_executions/${execution.id}`, { workflow_execution: { status } }));
  const live = execution && ["handoff", "waiting", "running"].includes(execution.status);
  return (
    <section className="thread" aria-label="Conversation">
      <div className="toolbar">
        <h2>{conversation.kapso.contact_name || conversation.phone_number}</h2>
        {execution && (
          <span>
            <a href={`/console/executions/${execution.id}`} onClick={(e) => { e.preventDefault(); navigate(`/console/executions/${execution.id}`); }}>
              {execution.workflow.name ?? "execution"}
            </a>{" "}
            <span className={`badge ${execution.status}`}>{execution.status}</span>
          </span>
        )}
        {execution?.status === "handoff" && <button disabled={busy} onClick={() => setStatus("waiting", "Returned to the flow.")}>Return to flow</button>}
        {live && <button className="danger" disabled={busy} onClick={() => setStatus("ended", "Execution ended.")}>End</button>}
      </div>
      <ErrorBox error={error} onClose={() => setError(null)} />
      <Notice text={notice ?? stream.failed} />
      <div className="messages phone" aria-live="polite">
        {messages === null && <p className="loading">Loading…</p>}
        {messages?.length === 0 && <p className="empty">No messages yet.</p>}
        {messages?.map((m) => (
          <div key={m.id} className={`bubble ${m.kapso.direction}`}>
            <p>{m.kapso.content ?? `[${m.type}]`}</p>
            <span className="meta">
              {when(m.timestamp)} {m.kapso.direction === "outbound" && <Ticks status={m.kapso.status} />}
            </span>
          </div>
        ))}
        <div ref={bottom} />
      </div>
      <form className="composer" onSubmit={reply}>
        <label htmlFor="inbox-reply" className="visually-hidden">Reply</label>
        <input id="inbox-reply" placeholder="Reply as a human…" value={text} onChange={(e) => setText(e.target.value)} disabled={busy} />
        <button type="submit" className="primary" disabled={busy || !text.trim()}>Send</button>
      </form>
    </section>
  );
}

export default function InboxPage({ conversationId }: { conversationId?: string }) {
  const [error, setError] = useState<string | null>(null);
  const { rows, executions, refresh, loadOlder, failed } = useConversations(setError);
  const selected = rows?.find((c) => c.id === conversationId);
  return (
    <main className="page inbox-page">
      <div className="page-head"><h1>Inbox</h1></div>
      <ErrorBox error={error} />
      <Notice text={failed} />
      <div className="inbox-layout">
        <ConversationList rows={rows} executions={executions} selected={conversationId} loadOlder={loadOlder} />
        {selected ? (
          <Thread key={selected.id} conversation={selected} execution={executions[selected.id] ?? null} onChanged={() => void refresh(selected.id)} />
        ) : (
          <p className="empty">{conversationId && rows ? "That conversation is not among those loaded: see “Older conversations”." : "Pick a conversation."}</p>
        )}
      </div>
    </main>
  );
}
