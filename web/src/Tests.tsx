import { useEffect, useRef, useState } from "react";
import { api, ApiError, errorText, P, Workflow } from "./api";
import { navigate } from "./router";
import { ErrorBox, Notice } from "./ui";

// A flow's conversation test suite (docs/testing-flows.md), stored with the workflow:
// edit the YAML, save it (problems come back with their line), run it against the
// current draft inside the server (nothing appears in the flow's executions), and read
// each case's outcome with the diff `convoflow test` prints.

type Envelope<T> = { data: T };
type StoredSuite = { workflow_id: string; yaml: string; updated_at: string | null };
type SuiteProblem = { message: string; line: number | null };
type CaseResult = { name: string; outcome: "passed" | "failed" | "error" | "skipped"; seconds: number; step: number | null; step_text: string; lines: string[] };
type Run = { suite: string; passed: boolean; counts: Record<string, number>; seconds: number; workflow_version_id: string | null; cases: CaseResult[] };

const STARTER = `# Conversation tests for this flow; they run against its current draft.
# Steps: user, expect_bot, expect_vars, expect_status, advance_time, set_vars
# (docs/testing-flows.md).
cases:
  - name: the flow answers
    steps:
      - expect_bot: {contains: "Hi"}
`;

// A diff line's role, for its colour: what was expected, what happened, the caret.
function lineClass(line: string): string {
  const text = line.trimStart();
  if (text.startsWith("^")) return "caret";
  if (/^(-(?!--)|expected\b|\w+: expected\b)/.test(text)) return "want";
  if (/^(\+(?!\+\+)|got\b)/.test(text)) return "got";
  return "";
}

function Outcome({ outcome }: { outcome: CaseResult["outcome"] }) {
  const label = { passed: "✓ pass", failed: "✗ fail", error: "✗ error", skipped: "– skip" }[outcome];
  return <span className={`badge outcome-${outcome}`}>{label}</span>;
}

function Results({ run }: { run: Run }) {
  const { passed = 0, failed = 0, error = 0, skipped = 0 } = run.counts;
  return (
    <section className="test-results" aria-label="Test results">
      <h2 className={run.passed ? "ok" : "bad"} data-testid="run-summary">
        {run.passed ? "All passed" : "Failed"}: {passed} passed, {failed} failed, {error} errors, {skipped} skipped
        <span className="hint"> ({run.seconds.toFixed(2)} s)</span>
      </h2>
      <table className="flows">
        <thead><tr><th>Case</th><th>Result</th><th>Time</th><th>What differed</th></tr></thead>
        <tbody>
          {run.cases.map((c) => (
            <tr key={c.name} className={`case ${c.outcome}`}>
              <td data-label="Case">{c.name}</td>
              <td data-label="Result"><Outcome outcome={c.outcome} /></td>
              <td data-label="Time">{c.seconds.toFixed(2)} s</td>
              <td data-label="What differed">
                {c.step != null && <div className="at-step">at step {c.step}: <code>{c.step_text}</code></div>}
                {c.lines.length > 0 && (
                  <pre className="diff">{c.lines.map((line, i) => <div key={i} className={lineClass(line)}>{line || " "}</div>)}</pre>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export default function TestsPage({ workflowId }: { workflowId: string }) {
  const [flow, setFlow] = useState<Workflow | null>(null);
  const [text, setText] = useState("");
  const [saved, setSaved] = useState<string | null>(null);
  const [problems, setProblems] = useState<SuiteProblem[]>([]);
  const [run, setRun] = useState<Run | null>(null);
  const [busy, setBusy] = useState<"" | "saving" | "running">("");
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const editor = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLPreElement>(null);

  useEffect(() => {
    Promise.all([
      api<Envelope<Workflow>>("GET", `${P}/workflows/${workflowId}`),
      api<Envelope<StoredSuite>>("GET", `${P}/workflows/${workflowId}/test_suite`),
    ])
      .then(([read, suite]) => {
        setFlow(read.data);
        setSaved(suite.data.yaml);
        setText(suite.data.yaml || STARTER);
      })
      .catch((exc) => setError(errorText(exc)));
  }, [workflowId]);

  async function save(): Promise<boolean> {
    setBusy("saving");
    setError(null);
    setNotice(null);
    try {
      await api("PUT", `${P}/workflows/${workflowId}/test_suite`, { test_suite: { yaml: text } });
      setSaved(text);
      setProblems([]);
      return true;
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 422 && exc.details.length) {
        setProblems(exc.details.map((d) => ({ message: d.message, line: (d as unknown as SuiteProblem).line ?? null })));
        setError("The suite was not saved: fix the problems listed under it.");
      } else setError(errorText(exc));
      return false;
    } finally {
      setBusy("");
    }
  }

  async function runSuite() {
    if (text !== saved && !(await save())) return;
    setBusy("running");
    setError(null);
    try {
      setRun((await api<Envelope<Run>>("POST", `${P}/workflows/${workflowId}/test_runs`)).data);
    } catch (exc) {
      setError(errorText(exc));
    } finally {
      setBusy("");
    }
  }

  // Put the caret at the start of a problem's line.
  function goToLine(line: number) {
    const area = editor.current;
    if (!area) return;
    const offset = text.split("\n").slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
    area.focus();
    area.setSelectionRange(offset, offset);
  }

  if (!flow) return <main className="page"><ErrorBox error={error} />{!error && <p className="loading">Loading…</p>}</main>;
  const dirty = text !== saved;
  const lines = text.split("\n").length;
  const bad = new Set(problems.map((p) => p.line));
  return (
    <main className="page tests-page">
      <div className="page-head">
        <h1>Tests of {flow.name}</h1>
        <button onClick={() => navigate(`/console/flows/${workflowId}`)}>Open editor</button>
        <button onClick={() => void save().then((ok) => ok && setNotice("Saved."))} disabled={!dirty || busy !== ""}>{dirty ? "Save" : "Saved"}</button>
        <button className="primary" onClick={() => void runSuite()} disabled={busy !== ""}>{busy === "running" ? "Running…" : "Run tests"}</button>
      </div>
      <p className="hint">Each case talks to the flow's current draft as a new user on the sandbox channel, inside the server on a throwaway database: nothing shows in the flow's executions. <code>advance_time</code> moves a fake clock.</p>
      <ErrorBox error={error} onClose={() => setError(null)} />
      <Notice text={notice} />
      <div className="yaml-editor">
        <pre className="gutter" ref={gutter} aria-hidden>
          {Array.from({ length: lines }, (_, i) => <div key={i} className={bad.has(i + 1) ? "bad" : ""}>{i + 1}</div>)}
        </pre>
        <textarea
          ref={editor} aria-label="Test suite (YAML)" spellCheck={false} value={text} rows={Math.min(Math.max(lines + 1, 14), 30)}
          onChange={(e) => setText(e.target.value)}
          onScroll={(e) => { if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop; }}
        />
      </div>
      {problems.length > 0 && (
        <ul className="problems suite-problems" aria-label="Problems in the suite">
          {problems.map((p, i) => (
            <li key={i} className="err">
              {p.line != null ? <button className="link" onClick={() => goToLine(p.line!)}>line {p.line}</button> : "file"}: {p.message}
            </li>
          ))}
        </ul>
      )}
      {run && <Results run={run} />}
    </main>
  );
}
