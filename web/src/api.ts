// The console talks only to the public API, with the user's key (kept in sessionStorage).
const KEY = "convoflow.apiKey";
export const P = "/platform/v1";

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY);
}
export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export type Problem = { code: string; message: string; node_id?: string | null; field?: string | null };
export type Validation = { valid: boolean; errors: Problem[]; warnings: Problem[] };

// An API error in words: the message, then every detail the API listed.
export class ApiError extends Error {
  status: number;
  details: Problem[];
  constructor(status: number, message: string, details: Problem[]) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { "X-API-Key": apiKey() ?? "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (exc) {
    throw new ApiError(0, `Cannot reach the server: ${(exc as Error).message}`, []);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: any = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const message = parsed?.error ?? `HTTP ${response.status}: ${text.slice(0, 200)}`;
    throw new ApiError(response.status, String(message), Array.isArray(parsed?.details) ? parsed.details : []);
  }
  return parsed as T;
}

// A GET started before the page that needs it exists (a deep link's data fetched while
// its page's code still loads); the page takes it once, later reads go to the server.
const early = new Map<string, Promise<unknown>>();
export function prefetch(path: string): void {
  const read = api("GET", path);
  read.catch(() => undefined); // the page that takes it sees the error
  early.set(path, read);
}
export function getOnce<T>(path: string): Promise<T> {
  const read = early.get(path);
  early.delete(path);
  return (read as Promise<T> | undefined) ?? api<T>("GET", path);
}

export function errorText(exc: unknown): string {
  if (exc instanceof ApiError) {
    const lines = exc.details.slice(0, 8).map((d) => `• ${d.node_id ? d.node_id + ": " : ""}${d.field ? d.field + " " : ""}${d.message}`);
    return [exc.message, ...lines].join("\n");
  }
  return exc instanceof Error ? exc.message : String(exc);
}

export type Workflow = {
  id: string;
  name: string;
  status: "draft" | "active" | "archived";
  lock_version: number;
  execution_count: number;
  last_executed_at: string | null;
  updated_at: string;
  description: string | null;
  validation: Validation;
};

export type FlowNode = {
  id: string;
  type?: string;
  position?: { x: number; y: number };
  data: { node_type: string; config: Record<string, any>; display_name?: string | null; [k: string]: unknown };
  [k: string]: unknown;
};
export type FlowEdge = { id?: string; source: string; target: string; label?: string; [k: string]: unknown };
export type Definition = { nodes: FlowNode[]; edges: FlowEdge[] };

export type NodeTypeInfo = {
  type: string;
  label: string;
  icon: string;
  key_fields: string[];
  advanced_fields: string[];
  limits: Record<string, number>;
  config_schema: any;
};

let nodeTypes: Promise<NodeTypeInfo[]> | null = null;
export function loadNodeTypes(): Promise<NodeTypeInfo[]> {
  nodeTypes ??= api<{ data: NodeTypeInfo[] }>("GET", `${P}/node_types`).then((r) => r.data);
  nodeTypes.catch(() => (nodeTypes = null));
  return nodeTypes;
}
