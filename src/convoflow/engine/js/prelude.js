// The Workers-style globals a Kapso function may use, in plain JS: V8 alone has none of
// them. Host calls (fetch, KV) go through __host(op, json) -> Promise<json string>.
(function () {
  "use strict";
  const g = globalThis;
  const host = (op, args) => g.__host(op, JSON.stringify(args)).then((t) => JSON.parse(t));
  const logs = [];
  g.__logs = logs;
  const fmt = (a) => (typeof a === "string" ? a : (() => { try { return JSON.stringify(a); } catch (e) { return String(a); } })());
  const log = (level) => (...args) => { if (logs.length < 200) logs.push({ level, message: args.map(fmt).join(" ").slice(0, 4000), logged_at: new Date().toISOString(), stack: null }); };
  g.console = { log: log("log"), info: log("info"), warn: log("warn"), error: log("error"), debug: log("debug") };

  class Headers {
    constructor(init) { this._h = {}; if (init) { const e = init instanceof Headers ? Object.entries(init._h) : Array.isArray(init) ? init : Object.entries(init); for (const [k, v] of e) this.set(k, v); } }
    get(k) { const v = this._h[String(k).toLowerCase()]; return v === undefined ? null : v; }
    set(k, v) { this._h[String(k).toLowerCase()] = String(v); }
    append(k, v) { const c = this.get(k); this.set(k, c === null ? v : c + ", " + v); }
    has(k) { return String(k).toLowerCase() in this._h; }
    delete(k) { delete this._h[String(k).toLowerCase()]; }
    forEach(f) { for (const [k, v] of Object.entries(this._h)) f(v, k, this); }
    entries() { return Object.entries(this._h)[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
  }
  class Body {
    _init(body) { this._body = body === undefined || body === null ? "" : typeof body === "string" ? body : body instanceof Uint8Array ? new TextDecoder().decode(body) : String(body); this.bodyUsed = false; }
    async text() { this.bodyUsed = true; return this._body; }
    async json() { this.bodyUsed = true; return JSON.parse(this._body); }
    async arrayBuffer() { return new TextEncoder().encode(this._body).buffer; }
  }
  class Request extends Body {
    constructor(input, init) { super(); init = init || {}; this.url = typeof input === "string" ? input : input.url; this.method = (init.method || (input && input.method) || "GET").toUpperCase(); this.headers = new Headers(init.headers || (input && input.headers)); this._init(init.body !== undefined ? init.body : input && input._body); }
  }
  class Response extends Body {
    constructor(body, init) { super(); init = init || {}; this.status = init.status === undefined ? 200 : init.status; this.statusText = init.statusText || ""; this.headers = new Headers(init.headers); this._init(body); }
    get ok() { return this.status >= 200 && this.status < 300; }
    static json(data, init) { init = init || {}; const h = new Headers(init.headers); if (!h.has("content-type")) h.set("content-type", "application/json"); return new Response(JSON.stringify(data), { ...init, headers: h }); }
  }
  class URLSearchParams {
    constructor(init) { this._p = []; if (typeof init === "string") { for (const part of init.replace(/^\?/, "").split("&")) { if (!part) continue; const i = part.indexOf("="); const d = (s) => decodeURIComponent(s.replace(/\+/g, " ")); this._p.push(i < 0 ? [d(part), ""] : [d(part.slice(0, i)), d(part.slice(i + 1))]); } } else if (init) { for (const [k, v] of Object.entries(init)) this._p.push([k, String(v)]); } }
    get(k) { const e = this._p.find((p) => p[0] === k); return e ? e[1] : null; }
    getAll(k) { return this._p.filter((p) => p[0] === k).map((p) => p[1]); }
    has(k) { return this._p.some((p) => p[0] === k); }
    set(k, v) { this.delete(k); this._p.push([k, String(v)]); }
    append(k, v) { this._p.push([k, String(v)]); }
    delete(k) { this._p = this._p.filter((p) => p[0] !== k); }
    toString() { return this._p.map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&"); }
    [Symbol.iterator]() { return this._p[Symbol.iterator](); }
  }
  class URL {
    constructor(url, base) {
      const m = /^([a-z][a-z0-9+.-]*:)\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(String(url));
      if (!m) { if (base !== undefined) { const b = new URL(base); const path = String(url).startsWith("/") ? url : b.pathname.replace(/[^/]*$/, "") + url; return new URL(b.origin + path); } throw new TypeError("Invalid URL: " + url); }
      this.protocol = m[1].toLowerCase(); this.host = m[2]; const hp = /^(.*?)(?::(\d+))?$/.exec(m[2]); this.hostname = hp[1]; this.port = hp[2] || "";
      this.pathname = m[3] || "/"; this.search = m[4] && m[4] !== "?" ? m[4] : ""; this.hash = m[5] || ""; this.searchParams = new URLSearchParams(this.search);
    }
    get origin() { return this.protocol + "//" + this.host; }
    get href() { const q = this.searchParams.toString(); return this.origin + this.pathname + (q ? "?" + q : "") + this.hash; }
    toString() { return this.href; }
    toJSON() { return this.href; }
  }
  class TextEncoder { get encoding() { return "utf-8"; } encode(s) { const b = unescape(encodeURIComponent(String(s === undefined ? "" : s))); const a = new Uint8Array(b.length); for (let i = 0; i < b.length; i++) a[i] = b.charCodeAt(i); return a; } }
  class TextDecoder { get encoding() { return "utf-8"; } decode(a) { if (!a) return ""; const u = a instanceof Uint8Array ? a : new Uint8Array(a.buffer || a); let s = ""; for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]); return decodeURIComponent(escape(s)); } }
  // crypto's randomness: a ChaCha20 keystream (RFC 8439) whose key and nonce come from the
  // host's os.urandom, set when the context is made and again before every invocation
  // (__seed), so a warm isolate's output cannot be predicted from an earlier one. Not
  // Math.random (V8's xorshift128+, predictable from a few outputs).
  const rng = { key: new Uint32Array(8), nonce: new Uint32Array(3), counter: 0, block: new Uint8Array(0), pos: 0 };
  const rotl = (v, c) => (v << c) | (v >>> (32 - c));
  const chacha = () => {
    const s = new Uint32Array(16);
    s.set([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]); s.set(rng.key, 4); s[12] = rng.counter++; s.set(rng.nonce, 13);
    const x = Uint32Array.from(s);
    const qr = (a, b, c, d) => { x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 16); x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 12); x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 8); x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 7); };
    for (let i = 0; i < 10; i++) { qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15); qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14); }
    for (let i = 0; i < 16; i++) x[i] += s[i];
    return new Uint8Array(x.buffer);
  };
  const fromHex = (h) => { const b = new Uint8Array(h.length / 2); for (let i = 0; i < b.length; i++) b[i] = parseInt(h.substr(i * 2, 2), 16); return b; };
  g.__seed = (hex44) => { const b = fromHex(hex44); rng.key = new Uint32Array(b.slice(0, 32).buffer); rng.nonce = new Uint32Array(b.slice(32, 44).buffer); rng.counter = 0; rng.block = new Uint8Array(0); rng.pos = 0; };
  const fill = (bytes) => { for (let i = 0; i < bytes.length; i++) { if (rng.pos >= rng.block.length) { rng.block = chacha(); rng.pos = 0; } bytes[i] = rng.block[rng.pos++]; } };
  const INTEGER_ARRAYS = ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array"];
  const getRandomValues = (a) => {
    if (!ArrayBuffer.isView(a) || !INTEGER_ARRAYS.includes(a.constructor.name)) throw new TypeError("getRandomValues takes an integer typed array");
    if (a.byteLength > 65536) throw new RangeError("getRandomValues: at most 65536 bytes at a time (QuotaExceededError)");
    fill(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return a;
  };
  const randomUUID = () => {
    const b = new Uint8Array(16); fill(b); b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  };
  g.crypto = { getRandomValues, randomUUID };
  g.fetch = async (input, init) => {
    const req = input instanceof Request ? input : new Request(input, init);
    const r = await host("fetch", { url: req.url, method: req.method, headers: req.headers._h, body: req.method === "GET" ? null : req._body });
    if (r.error) throw new TypeError("fetch failed: " + r.error);
    return new Response(r.body, { status: r.status, headers: r.headers });
  };
  g.__kv = {
    get: async (key, type) => { const r = await host("kv.get", { key: String(key) }); if (r.value === null) return null; return type === "json" || (type && type.type === "json") ? JSON.parse(r.value) : r.value; },
    put: async (key, value) => { await host("kv.put", { key: String(key), value: typeof value === "string" ? value : JSON.stringify(value) }); },
    delete: async (key) => { await host("kv.delete", { key: String(key) }); },
    list: async (opts) => host("kv.list", { prefix: (opts && opts.prefix) || "", limit: (opts && opts.limit) || 1000 }),
    // Ours (Workers KV has none): add `by` (default 1) to an integer value in one SQL
    // statement, a missing key counting as 0; the new value.
    increment: async (key, by) => { const r = await host("kv.increment", { key: String(key), by: by === undefined ? 1 : by }); if (r.error) throw new TypeError(r.error); return r.value; },
  };
  Object.assign(g, { Headers, Request, Response, URL, URLSearchParams, TextEncoder, TextDecoder });
  // Invoke one request: the handler's Response flattened for the host.
  g.__invoke = async (reqJson, secretsJson, seedHex) => {
    logs.length = 0;
    g.__seed(seedHex);
    const r = JSON.parse(reqJson);
    const env = Object.assign({}, JSON.parse(secretsJson), { KV: g.__kv });
    if (typeof g.handler !== "function") throw new TypeError("the code defines no `async function handler(request, env)`");
    const res = await g.handler(new Request(r.url, { method: "POST", headers: r.headers, body: r.body }), env);
    if (!(res instanceof Response)) throw new TypeError("handler must return a Response (got " + (res === null ? "null" : typeof res) + ")");
    return JSON.stringify({ status: res.status, headers: res.headers._h, body: res._body, logs: logs.slice() });
  };
})();
