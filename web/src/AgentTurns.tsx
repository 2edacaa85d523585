// An agent node's work as a readable list: each model turn (model, tokens, latency,
// attempts, what it said) with the tool calls it made, their arguments and the result the
// model read, and how the agent ended. Built from the execution's events (agent_turn,
// agent_tool_called, agent_mcp_tools_listed, agent_completed, agent_stopped; docs/ai.md).

type AgentEvent = { id: string; event_type: string; payload: Record<string, any>; step?: { identifier: string } | null };
type ToolCall = { id: string; tool: string; ok: boolean; arguments: unknown; result: string | null };
type Turn = { id: string; node: string; number: number; payload: Record<string, any>; tools: ToolCall[] };
type Item = { kind: "turn"; turn: Turn } | { kind: "note"; id: string; node: string; text: string; ok: boolean };

const AGENT_EVENTS = new Set(["agent_turn", "agent_tool_called", "agent_completed", "agent_stopped", "agent_mcp_tools_listed"]);

function items(events: AgentEvent[]): Item[] {
  const out: Item[] = [];
  if (!events.some((e) => AGENT_EVENTS.has(e.event_type))) return out;
  const open = new Map<string, Turn>(); // node + turn number -> the turn's entry
  for (const event of events) {
    const node = event.step?.identifier ?? "agent";
    const p = event.payload ?? {};
    if (event.event_type === "agent_turn") {
      const turn: Turn = { id: event.id, node, number: Number(p.turn), payload: p, tools: [] };
      open.set(`${node}|${p.turn}`, turn);
      out.push({ kind: "turn", turn });
    } else if (event.event_type === "agent_tool_called") {
      const call = { id: event.id, tool: String(p.tool), ok: Boolean(p.ok), arguments: p.arguments, result: p.result ?? null };
      const turn = open.get(`${node}|${p.turn}`);
      if (turn) turn.tools.push(call);
      else out.push({ kind: "note", id: event.id, node, text: `tool ${call.tool} called`, ok: call.ok });
    } else if (event.event_type === "agent_completed") {
      const summary = p.summary ? `: “${p.summary}”` : "";
      out.push({ kind: "note", id: event.id, node, text: `Task completed after ${p.turns} turn(s)${summary}`, ok: true });
    } else if (event.event_type === "agent_stopped") {
      out.push({ kind: "note", id: event.id, node, text: `Stopped after ${p.turns} turn(s): ${p.reason}`, ok: false });
    } else if (event.event_type === "agent_mcp_tools_listed") {
      const listed = p.ok ? `${(p.tools ?? []).length} tool(s) listed` : `not listed: ${p.error}`;
      out.push({ kind: "note", id: event.id, node, text: `MCP server ${p.server}: ${listed}`, ok: Boolean(p.ok) });
    }
  }
  return out;
}

function usage(p: Record<string, any>): string {
  const parts = [p.provider_model ? String(p.provider_model) : null];
  if (p.input_tokens != null || p.output_tokens != null) parts.push(`${p.input_tokens ?? "?"} in / ${p.output_tokens ?? "?"} out tokens`);
  if (p.latency_ms != null) parts.push(`${Math.round(Number(p.latency_ms))} ms`);
  if (p.attempts != null) parts.push(`${p.attempts} attempt${p.attempts === 1 ? "" : "s"}`);
  return parts.filter(Boolean).join(" · ");
}

const shown = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value ?? {}));

function TurnView({ turn }: { turn: Turn }) {
  const p = turn.payload;
  // Tools that leave the node (complete_task, handoff_to_human) have no tool event.
  const called = new Set(turn.tools.map((t) => t.tool));
  const leaving = (p.tool_calls ?? []).filter((name: string) => !called.has(name));
  return (
    <li className={`agent-turn ${p.ok ? "" : "failed"}`} data-testid="agent-turn">
      <div className="turn-head">
        <strong>Turn {turn.number}</strong> <code>{turn.node}</code>
        {!p.ok && <span className="badge failed">model call failed</span>}
        <span className="hint"> {usage(p)}</span>
      </div>
      {p.text && <blockquote className="said">{p.text}</blockquote>}
      {(turn.tools.length > 0 || leaving.length > 0) && (
        <ul className="tool-calls">
          {turn.tools.map((t) => (
            <li key={t.id} data-testid="tool-call">
              <span className={t.ok ? "ok" : "bad"}>{t.ok ? "✓" : "✗"}</span> <code>{t.tool}</code>
              <code className="args">{shown(t.arguments)}</code>
              {t.result != null && <div className="tool-result">→ {t.result}</div>}
            </li>
          ))}
          {leaving.map((name: string) => <li key={name}><span className="ok">↳</span> <code>{name}</code></li>)}
        </ul>
      )}
    </li>
  );
}

export function AgentTurns({ events }: { events: AgentEvent[] }) {
  const list = items(events);
  if (list.length === 0) return null;
  return (
    <section className="agent-turns" aria-label="Agent turns">
      <h2>Agent turns</h2>
      <ol>
        {list.map((item) =>
          item.kind === "turn" ? <TurnView key={item.turn.id} turn={item.turn} /> : (
            <li key={item.id} className={`agent-note ${item.ok ? "" : "failed"}`}>{item.text} <code>{item.node}</code></li>
          ),
        )}
      </ol>
    </section>
  );
}
