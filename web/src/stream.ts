import { useEffect, useRef, useState } from "react";
import { apiKey, ApiError } from "./api";

// Live streams (server-sent events, docs/api.md "Live streams") read with fetch: the
// browser's EventSource cannot send the X-API-Key header, and a key in the query string
// would end up in logs and history. Reconnects with Last-Event-ID after a dropped
// connection, so nothing is lost; gives up (and says why, once) when the server refuses
// the stream or it keeps failing, and the screen falls back to polling. A 429 (too many
// streams open for the key or the project) is not final: a slot comes back when another
// stream closes, so the screen polls meanwhile and the stream is tried again after the
// server's Retry-After.

export type StreamEvent = { event: string; id: string | null; data: any };
export type StreamState = { live: boolean; failed: string | null };

const RETRIES = 3;
// A stream open this long without an event was healthy (keep-alive pings are not events).
const HEALTHY_MS = 5000;
// Retry-After bounds for a 429 (seconds): what the server says (5 for a stream cap), kept
// sane if a proxy says something odd (an HTTP date, 0, an hour).
const RETRY_AFTER_DEFAULT = 5;
const RETRY_AFTER_MAX = 60;

class Refused extends ApiError {
  retryAfterSeconds: number;
  constructor(status: number, message: string, retryAfterSeconds: number) {
    super(status, message, []);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

function retryAfter(header: string | null): number {
  const seconds = header !== null && /^\d+$/.test(header.trim()) ? Number(header.trim()) : RETRY_AFTER_DEFAULT;
  return Math.min(Math.max(seconds, 1), RETRY_AFTER_MAX);
}

function parseBlock(block: string): StreamEvent | null {
  let event = "message";
  let id: string | null = null;
  const data: string[] = [];
  for (const line of block.split(/\r\n|\r|\n/)) {
    if (!line || line.startsWith(":")) continue; // a comment is a keep-alive ping
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "event") event = value;
    else if (name === "id") id = value;
    else if (name === "data") data.push(value);
  }
  if (!data.length) return null;
  return { event, id, data: JSON.parse(data.join("\n")) };
}

async function refusal(response: Response): Promise<Refused> {
  const text = await response.text();
  let message = `HTTP ${response.status}`;
  try {
    message = JSON.parse(text).error ?? message;
  } catch {
    /* not JSON: the status says enough */
  }
  return new Refused(response.status, message, retryAfter(response.headers.get("Retry-After")));
}

// Reads `path` until `signal` aborts; calls `onEvent` for each event and `onLive` once
// the server accepted the stream. Resolves when the server closes it; throws on a refusal.
async function readOnce(path: string, lastId: { current: string | null }, signal: AbortSignal, onEvent: (e: StreamEvent) => void, onLive: () => void) {
  const headers: Record<string, string> = { "X-API-Key": apiKey() ?? "", Accept: "text/event-stream" };
  if (lastId.current !== null) headers["Last-Event-ID"] = lastId.current;
  const response = await fetch(path, { headers, signal, cache: "no-store" });
  if (!response.ok || !response.body) throw await refusal(response);
  onLive();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: RegExpExecArray | null;
    while ((end = /\r\n\r\n|\n\n|\r\r/.exec(buffer))) {
      const parsed = parseBlock(buffer.slice(0, end.index));
      buffer = buffer.slice(end.index + end[0].length);
      if (!parsed) continue;
      if (parsed.id !== null) lastId.current = parsed.id;
      onEvent(parsed);
    }
  }
}

// Follows `path` (null: nothing to follow) while the component is mounted. `onEvent` may
// change between renders; the latest one is called, with the path the event came from
// (a stream being replaced may still deliver one before it is closed). `resumeAfter`: the
// id of the last event the screen already holds (read when the stream opens), sent as
// Last-Event-ID so the server starts after it instead of replaying everything.
export function useStream(
  path: string | null,
  onEvent: (e: StreamEvent, path: string) => void,
  resumeAfter: string | null = null,
): StreamState {
  const [state, setState] = useState<StreamState>({ live: false, failed: null });
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const resume = useRef(resumeAfter);
  resume.current = resumeAfter;
  useEffect(() => {
    if (!path) return;
    const abort = new AbortController();
    const lastId = { current: resume.current };
    setState({ live: false, failed: null });
    (async () => {
      // A stream counts as healthy once it delivered an event or stayed open a while: one
      // accepted and then cut at once, again and again, is a failure like a refused one
      // (else it would reconnect forever and never fall back to polling).
      let failures = 0;
      while (!abort.signal.aborted) {
        const opened = Date.now();
        let delivered = false;
        try {
          await readOnce(
            path,
            lastId,
            abort.signal,
            (e) => {
              delivered = true;
              failures = 0;
              if (!abort.signal.aborted) handler.current(e, path);
            },
            () => setState({ live: true, failed: null }),
          );
          if (!delivered && Date.now() - opened < HEALTHY_MS) throw new Error("the stream closed at once");
          failures = 0;
        } catch (exc) {
          if (abort.signal.aborted) return;
          if (exc instanceof Refused && exc.status === 429) {
            // Not a failure: poll meanwhile (the screens poll while `failed` is set) and
            // try the stream again when the server says; going live clears the notice.
            setState({ live: false, failed: `Live updates paused (${exc.message}); refreshing every few seconds until they resume.` });
            await new Promise((resolve) => window.setTimeout(resolve, exc.retryAfterSeconds * 1000));
            continue;
          }
          if (delivered || Date.now() - opened >= HEALTHY_MS) failures = 0;
          failures += 1;
          const refused = exc instanceof ApiError && exc.status >= 400 && exc.status < 500;
          if (refused || failures >= RETRIES) {
            setState({ live: false, failed: `Live updates stopped (${(exc as Error).message}); refreshing every few seconds instead.` });
            return;
          }
        }
        if (abort.signal.aborted) return;
        // The server closed the stream or the connection dropped: resume after the last event.
        await new Promise((resolve) => window.setTimeout(resolve, 500 * Math.max(failures, 1)));
      }
    })();
    return () => abort.abort();
  }, [path]);
  return state;
}
