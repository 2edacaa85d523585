import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Background, ReactFlow, ReactFlowProvider, type Edge } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { api, Definition, errorText, loadNodeTypes, NodeTypeInfo, P, Workflow } from "./api";
import { CardNode, EditorContext, FlowCard } from "./FlowCard";
import { toFlow } from "./graph";
import { navigate } from "./router";
import { StreamEvent, useStream } from "./stream";
import { ErrorBox, Notice } from "./ui";

// The test chat: a simulated WhatsApp user on the sandbox channel, against the real
// engine. It starts the flow through the public API (context.channel = "sandbox") and
// reads and writes the conversation through /sandbox/conversations (our extension).
// Live updates come from the conversation's event stream (messages and the execution);
// if the stream fails, the chat polls instead.

type Envelope<T> = { data: T };
type ChatMessage = { id: string; direction: "inbound" | "outbound"; content: Record<string, any>; created_at: string };
type Execution = {
  id: string; status: string; whatsapp_conversation_id: string | null;
  current_step: { identifier: string } | null; execution_context: { vars: Record<string, unknown> };
};
const NODE_TYPES = { "flow-node": FlowCard };
const POLL_MS = 400;
const BRISK_POLL_MS = 60;
// The typing indicator's longest stay without an answer, and after the flow stopped.
const ANSWER_WAIT_MS = 5000;
const AFTER_STOP_MS = 1000;
const TIMERS_SETTLE_MS = 150;

function outboundCount(list: ChatMessage[]): number {
  return list.filter((m) => m.direction === "outbound").length;
}

// One copy per message id (a stream may send one again, with a newer status), in order.
function upsert(list: ChatMessage[], message: ChatMessage): ChatMessage[] {
  const next = list.filter((m) => m.id !== message.id);
  next.push(message);
  return next.sort((a, b) => (a.created_at === b.created_at ? (a.id < b.id ? -1 : 1) : a.created_at < b.created_at ? -1 : 1));
}

function textOf(content: Record<string, any>): string {
  const i = content.interactive ?? {};
  return content.text ?? i.body_text ?? content.input ?? (content.template ? `[template ${content.template?.name ?? ""}]` : `[${content.type ?? "message"}]`);
}

function Bubble({ message, onChoose, last }: { message: ChatMessage; onChoose: (title: string) => void; last: boolean }) {
  const c = message.content;
  const i = c.interactive ?? {};
  const options: { id?: string; title: string }[] = [
    ...(i.buttons ?? []),
    ...((i.list_sections ?? []) as any[]).flatMap((s) => s?.rows ?? []),
  ].filter((o) => o && o.title);
  const bot = message.direction === "outbound";
  return (
    <div className={`bubble ${bot ? "bot" : "user"}`} data-testid={bot ? "bot-bubble" : "user-bubble"}>
      {i.header_text && <strong className="header">{i.header_text}</strong>}
      <p>{textOf(c)}</p>
      {i.footer_text && <small className="footer">{i.footer_text}</small>}
      {bot && options.length > 0 && (
        <div className="reply-buttons">
          {options.map((o, index) => (
            <button key={index} disabled={!last} onClick={() => onChoose(o.title)}>{o.title}</button>
          ))}
        </div>
      )}
    </div>
  );
}

function ChatScreen({ workflowId }: { workflowId: string }) {
  const [flow, setFlow] = useState<Workflow | null>(null);
  const [graph, setGraph] = useState<{ nodes: CardNode[]; edges: Edge[] }>({ nodes: [], edges: [] });
  const [types, setTypes] = useState<Record<string, NodeTypeInfo>>({});
  const [execution, setExecution] = useState<Execution | null>(null);
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [skipNote, setSkipNote] = useState<string | null>(null);
  // The pending timers of the conversation (GET .../timers): "Skip the wait" is offered only
  // when there is one, so a wait without a timeout never meets the API's 409.
  const [timers, setTimers] = useState<{ at: string; pending: { purpose: string }[] }>({ at: "", pending: [] });
  const log = useRef<HTMLDivElement>(null);
  const shown = useRef<ChatMessage[]>([]);
  const waiter = useRef<{ before: number; done: () => void } | null>(null);
  const show = useCallback((list: ChatMessage[]) => {
    shown.current = list;
    setMessages(list);
    if (waiter.current && outboundCount(list) > waiter.current.before) waiter.current.done();
  }, []);

  useEffect(() => {
    (async () => {
      try {
        const [read, catalogue] = await Promise.all([
          api<Envelope<Workflow & { definition: Definition }>>("GET", `${P}/workflows/${workflowId}/definition`),
          loadNodeTypes(),
        ]);
        setFlow(read.data);
        setGraph(toFlow(read.data.definition));
        setTypes(Object.fromEntries(catalogue.map((t) => [t.type, t])));
      } catch (exc) {
        setError(errorText(exc));
      }
    })();
  }, [workflowId]);

  const refresh = useCallback(async (executionId: string): Promise<{ outbound: number; status: string }> => {
    const detail = (await api<Envelope<Execution>>("GET", `${P}/workflow_executions/${executionId}`)).data;
    setExecution(detail);
    let outbound = 0;
    if (detail.whatsapp_conversation_id) {
      const read = await api<Envelope<ChatMessage[]>>("GET", `${P}/sandbox/conversations/${detail.whatsapp_conversation_id}/messages`);
      show(read.data);
      outbound = read.data.filter((m) => m.direction === "outbound").length;
    }
    return { outbound, status: detail.status };
  }, [show]);

  // Events of the conversation on screen only: after "Restart" the previous chat's stream
  // may deliver one more before it is closed.
  const following = useRef<string | null>(null);
  const onEvent = useCallback((e: StreamEvent, path: string) => {
    if (path !== following.current) return;
    if (e.event === "message") show(upsert(shown.current, e.data as ChatMessage));
    else if (e.event === "execution") {
      setExecution(e.data as Execution);
      if (waiter.current && !["waiting", "running"].includes(e.data.status)) {
        const stopped = waiter.current;
        window.setTimeout(() => stopped.done(), AFTER_STOP_MS);
      }
    }
  }, [show]);
  const conversationId = execution?.whatsapp_conversation_id;
  following.current = conversationId ? `${P}/sandbox/conversations/${conversationId}/events/stream` : null;
  const stream = useStream(following.current, onEvent);

  // Polling, only when the stream failed. An ended execution's last messages may still be
  // on their way (the outbox sends after the advance commits), so it is polled too, less often.
  const ended = execution ? ["ended", "failed"].includes(execution.status) : false;
  useEffect(() => {
    if (!execution || !stream.failed) return;
    const every = ended ? POLL_MS * 4 : POLL_MS;
    const timer = window.setInterval(() => refresh(execution.id).catch((exc) => setError(errorText(exc))), every);
    return () => window.clearInterval(timer);
  }, [execution?.id, ended, refresh, stream.failed]);

  // The graph's cards re-render only when the current node moves, not with every message.
  const current = execution?.current_step?.identifier;
  const cardContext = useMemo(() => ({ types, problems: {}, current }), [types, current]);
  const canvas = useMemo(() => (
    <ReactFlow nodes={graph.nodes} edges={graph.edges} nodeTypes={NODE_TYPES} nodesDraggable={false} nodesConnectable={false} fitView minZoom={0.1}><Background /></ReactFlow>
  ), [graph]);

  // Timers change only when the execution moves (a new step, a new status): asked again then.
  const position = `${execution?.status}:${execution?.current_step?.identifier}:${messages.length}`;
  useEffect(() => {
    if (!conversationId) {
      setTimers({ at: "", pending: [] });
      return;
    }
    // Asked once the stream's burst for a turn is over (the user's message, the
    // execution, the bot's answers), not once per event: the reads would compete with
    // the reply they follow.
    let current = true;
    const settle = window.setTimeout(() => {
      api<Envelope<{ purpose: string }[]>>("GET", `${P}/sandbox/conversations/${conversationId}/timers`)
        .then((read) => current && setTimers({ at: position, pending: read.data }))
        .catch((exc) => current && setError(errorText(exc)));
    }, TIMERS_SETTLE_MS);
    return () => { current = false; window.clearTimeout(settle); };
  }, [conversationId, position]);

  useEffect(() => {
    // A block, not an expression: newer browsers return a promise from scrollTo, and an
    // effect may only return a cleanup function.
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [messages.length]);

  async function start() {
    if (!flow) return;
    setError(null);
    setBusy(true);
    // The previous chat ends here: its stream closes, nothing of it comes back.
    following.current = null;
    setExecution(null);
    show([]);
    setSkipNote(null);
    try {
      // A start through the API needs an active api_call trigger: add one the first time.
      const triggers = (await api<Envelope<{ trigger_type: string; active: boolean }[]>>("GET", `${P}/workflows/${flow.id}/triggers`)).data;
      if (!triggers.some((t) => t.trigger_type === "api_call" && t.active)) {
        await api("POST", `${P}/workflows/${flow.id}/triggers`, { trigger: { trigger_type: "api_call" } });
      }
      const phone = `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
      const body = { workflow_execution: { phone_number: phone, context: { channel: "sandbox" } } };
      const started = (await api<Envelope<{ id: string }>>("POST", `${P}/workflows/${flow.id}/executions`, body)).data;
      await refresh(started.id);
    } catch (exc) {
      setError(errorText(exc));
    } finally {
      setBusy(false);
    }
  }

  // The typing indicator stays while the engine answers: until the stream brings the bot's
  // next message (or the flow stopped, or 5 s passed). Without the stream: poll briskly
  // until the bot says something or the execution stops waiting.
  async function awaitAnswer(executionId: string, before: number) {
    if (stream.live) {
      await new Promise<void>((resolve) => {
        const timer = window.setTimeout(() => done(), ANSWER_WAIT_MS);
        function done() {
          window.clearTimeout(timer);
          if (waiter.current?.done === done) waiter.current = null;
          resolve();
        }
        waiter.current = { before, done };
        if (outboundCount(shown.current) > before) done();
      });
      return;
    }
    for (let i = 0; i < 50; i += 1) {
      const got = await refresh(executionId);
      if (got.outbound > before || got.status !== "waiting") break;
      await new Promise((resolve) => window.setTimeout(resolve, BRISK_POLL_MS));
    }
  }

  // "Skip the wait": the conversation's pending timeout (or send delay) fires now, as
  // when it comes due (POST /sandbox/conversations/{id}/skip_wait). Offered only while a
  // timer is pending; a 409 (it fired meanwhile) is shown in words.
  async function skipWait() {
    if (!execution?.whatsapp_conversation_id) return;
    setError(null);
    setBusy(true);
    try {
      const before = outboundCount(shown.current);
      const skipped = (await api<Envelope<{ fired: { purpose: string }[] }>>("POST", `${P}/sandbox/conversations/${execution.whatsapp_conversation_id}/skip_wait`, {})).data;
      setSkipNote(skipped.fired.length ? `Fired: ${skipped.fired.map((t) => t.purpose.replace("_", " ")).join(", ")}.` : "Nothing was due.");
      await awaitAnswer(execution.id, before);
    } catch (exc) {
      setError(errorText(exc));
    } finally {
      setBusy(false);
    }
  }

  async function say(value: string) {
    if (!execution?.whatsapp_conversation_id || !value.trim()) return;
    setError(null);
    setBusy(true);
    try {
      const before = outboundCount(shown.current);
      await api("POST", `${P}/sandbox/conversations/${execution.whatsapp_conversation_id}/messages`, { text: value });
      setText("");
      await awaitAnswer(execution.id, before);
    } catch (exc) {
      setError(errorText(exc));
    } finally {
      setBusy(false);
    }
  }

  if (!flow) return <main className="page"><ErrorBox error={error} />{!error && <p className="loading">Loading…</p>}</main>;
  const lastBot = [...messages].reverse().find((m) => m.direction === "outbound");
  const finished = ended;
  return (
    <main className="chat-page">
      <div className="toolbar">
        <h1>Test chat: {flow.name}</h1>
        <button onClick={() => navigate(`/console/flows/${flow.id}`)}>Open editor</button>
        <button className="primary" onClick={start} disabled={busy || flow.status !== "active"}>{execution ? "Restart" : "Start chat"}</button>
        {execution && <span className={`badge ${execution.status}`} data-testid="execution-status">{execution.status}</span>}
        {execution?.status === "waiting" && timers.at === position && timers.pending.length === 0 && (
          <span className="hint" data-testid="no-timer">Waits for the user (no timeout)</span>
        )}
        {execution && !ended && timers.pending.length > 0 && (
          <button onClick={skipWait} disabled={busy} title="Fire the pending timeout or send delay now">Skip the wait</button>
        )}
        {execution && <button onClick={() => navigate(`/console/executions/${execution.id}`)}>Inspect execution</button>}
      </div>
      <Notice text={skipNote} />
      <Notice text={stream.failed} />
      {flow.status !== "active" && <p className="notice">Activate this flow to chat with it (the editor lists what stops it).</p>}
      <ErrorBox error={error} onClose={() => setError(null)} />
      <div className="chat-layout">
        <section className="phone" aria-label="Conversation">
          <div className="messages" ref={log} aria-live="polite">
            {messages.map((m) => <Bubble key={m.id} message={m} last={m === lastBot && !finished} onChoose={say} />)}
            {busy && <div className="typing" aria-label="The bot is typing">•••</div>}
            {finished && execution && <p className="ended">Conversation {execution.status}.</p>}
          </div>
          <form className="composer" onSubmit={(e) => { e.preventDefault(); void say(text); }}>
            <input aria-label="Message" placeholder={execution ? "Type a message" : "Start the chat first"} value={text} onChange={(e) => setText(e.target.value)} disabled={!execution || Boolean(finished)} />
            <button type="submit" disabled={!execution || busy || !text.trim()}>Send</button>
          </form>
        </section>
        <section className="graph-view" aria-label="Where the conversation is">
          <EditorContext.Provider value={cardContext}>
            {canvas}
          </EditorContext.Provider>
        </section>
        <section className="vars" aria-label="Variables">
          <h2>Variables</h2>
          <pre>{JSON.stringify(execution?.execution_context?.vars ?? {}, null, 2)}</pre>
        </section>
      </div>
    </main>
  );
}

export default function ChatPage({ workflowId }: { workflowId: string }) {
  return (
    <ReactFlowProvider>
      <ChatScreen workflowId={workflowId} />
    </ReactFlowProvider>
  );
}
