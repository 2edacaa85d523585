import { lazy, Suspense, useState, type ComponentType } from "react";
import { api, apiKey, errorText, loadNodeTypes, P, prefetch, setApiKey } from "./api";
import { navigate, usePath } from "./router";
import { FlowsPage } from "./Flows";
import { ErrorBox } from "./ui";

// A page loaded when first opened (the editor and the chat carry React Flow), so the first
// page is small. `preload` fetches it ahead: a page already loaded renders at once, without
// going through Suspense, whose fallback React keeps on screen for at least 300 ms.
function lazyPage<P extends object>(load: () => Promise<{ default: ComponentType<P> }>) {
  let loaded: ComponentType<P> | null = null;
  const Lazy = lazy(load);
  function Page(props: P) {
    const Component = loaded ?? Lazy;
    return <Component {...props} />;
  }
  Page.preload = () => load().then((module) => { loaded = module.default; });
  return Page;
}

const EditorPage = lazyPage(() => import("./Editor"));
const ChatPage = lazyPage(() => import("./Chat"));
const ExecutionsPage = lazyPage(() => import("./Executions"));
const TestsPage = lazyPage(() => import("./Tests"));
const InboxPage = lazyPage(() => import("./Inbox"));
const SettingsPage = lazyPage(() => import("./Settings"));
const PAGES: [RegExp, { preload: () => Promise<void> }][] = [
  [/^\/console\/flows\/[^/]+\/?$/, EditorPage],
  [/^\/console\/flows\/[^/]+\/chat\/?$/, ChatPage],
  [/^\/console\/(flows\/[^/]+\/)?executions(\/|$)/, ExecutionsPage],
  [/^\/console\/flows\/[^/]+\/tests\/?$/, TestsPage],
  [/^\/console\/inbox(\/|$)/, InboxPage],
  [/^\/console\/settings\/?$/, SettingsPage],
];

// Loads the page a deep link opens before the first render (a failure is left to the
// lazy page, which shows it).
export function preloadPage(path: string): Promise<void> {
  const page = PAGES.find(([pattern]) => pattern.test(path));
  if (!page || !apiKey()) return Promise.resolve();
  // The editor's graph is fetched while its code loads, not after.
  const editor = path.match(/^\/console\/flows\/([^/]+)\/?$/);
  if (editor) {
    prefetch(`${P}/workflows/${editor[1]}/definition`);
    void loadNodeTypes().catch(() => undefined);
  }
  return page[1].preload().catch(() => undefined);
}

function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    setApiKey(key.trim());
    try {
      await api("GET", `${P}/node_types`);
      onSignedIn();
    } catch (exc) {
      setApiKey(null);
      setError(errorText(exc));
    } finally {
      setBusy(false);
    }
  }
  return (
    <main className="signin">
      <form onSubmit={submit} className="card">
        <h1>convoflow</h1>
        <p>Paste your project's API key (<code>make run</code> prints one; <code>convoflow create-api-key</code> makes another). It stays in this tab only.</p>
        <label htmlFor="api-key">API key</label>
        <input id="api-key" type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} autoFocus />
        <button type="submit" className="primary" disabled={busy || !key.trim()}>Sign in</button>
        <ErrorBox error={error} />
      </form>
    </main>
  );
}

export function App() {
  const path = usePath();
  const [signedIn, setSignedIn] = useState(Boolean(apiKey()));
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const editor = path.match(/^\/console\/flows\/([^/]+)\/?$/);
  const chat = path.match(/^\/console\/flows\/([^/]+)\/chat\/?$/);
  const runs = path.match(/^\/console\/flows\/([^/]+)\/executions\/?$/);
  const tests = path.match(/^\/console\/flows\/([^/]+)\/tests\/?$/);
  const run = path.match(/^\/console\/executions\/([^/]+)\/?$/);
  const inbox = path.match(/^\/console\/inbox(?:\/([^/]+))?\/?$/);
  let page: React.ReactNode;
  if (editor) page = <EditorPage key={editor[1]} workflowId={editor[1]} />;
  else if (chat) page = <ChatPage key={chat[1]} workflowId={chat[1]} />;
  else if (tests) page = <TestsPage key={tests[1]} workflowId={tests[1]} />;
  else if (runs) page = <ExecutionsPage key={runs[1]} workflowId={runs[1]} />;
  else if (run) page = <ExecutionsPage key={run[1]} executionId={run[1]} />;
  else if (inbox) page = <InboxPage conversationId={inbox[1]} />;
  else if (/^\/console\/settings\/?$/.test(path)) page = <SettingsPage />;
  else page = <FlowsPage />;
  // Screens of side-by-side panes (a graph beside a form, a chat, a timeline) fill the window
  // and scroll each pane on its own, so a long pane never carries the graph out of view; the
  // document-like screens (lists, settings, tests) scroll as a page.
  const fill = Boolean(editor || chat || run || inbox);
  return (
    <div className={fill ? "shell fill" : "shell"}>
      <header className="topbar">
        <a href="/console/flows" className="brand" onClick={(e) => { e.preventDefault(); navigate("/console/flows"); }}>
          convoflow
        </a>
        <nav>
          <a href="/console/flows" onClick={(e) => { e.preventDefault(); navigate("/console/flows"); }}>Flows</a>
          <a href="/console/inbox" onClick={(e) => { e.preventDefault(); navigate("/console/inbox"); }}>Inbox</a>
          <a href="/console/settings" onClick={(e) => { e.preventDefault(); navigate("/console/settings"); }}>Settings</a>
        </nav>
        <button className="link" onClick={() => { setApiKey(null); setSignedIn(false); }}>Sign out</button>
      </header>
      <Suspense fallback={<p className="loading">Loading…</p>}>{page}</Suspense>
    </div>
  );
}
