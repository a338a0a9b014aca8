// WebSocket clients of the bench: signed-in dcalld sessions and plain echo connections, opened
// many at a time with a bounded number of handshakes in flight.
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { withTimeout } from './proc.mjs';

const require = createRequire(import.meta.url);

function loadWs() {
  try {
    return require('../../tests/node_modules/ws');
  } catch {
    process.stderr.write('bench: the `ws` package is missing; run scripts/install-deps first\n');
    process.exit(2);
  }
}
export const WebSocket = loadWs();

// Compression off: dcalld does not negotiate it and the echo server cannot; plain frames both ways.
const WS_OPTS = { perMessageDeflate: false, handshakeTimeout: 30000 };

const b64u = (s) => Buffer.from(s).toString('base64url');

// A token minted offline, as a business backend would (HS256 keyed by the api_secret string).
export function mintToken(acct, cuid, name) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64u(JSON.stringify({ acc: acct.account_id, sub: cuid, name, iat: now, exp: now + 3600 }));
  const sig = crypto.createHmac('sha256', acct.api_secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

// One signed-in device. After `registered`, every server message goes to onEvent(msg, rxTimeMs).
export class Session {
  constructor(ws, cuid) {
    this.ws = ws;
    this.cuid = cuid;
    this.onEvent = () => {};
    this.closed = new Promise((r) => ws.once('close', (code) => r(code)));
  }

  send(obj) {
    this.ws.send(JSON.stringify(obj));
  }
}

// Opens a WebSocket to url, sends hello with the token and resolves with the Session on
// `registered`; rejects on an error message, a close or after timeoutMs.
export function connectSession(url, token, cuid, timeoutMs = 30000) {
  const ws = new WebSocket(url, WS_OPTS);
  const s = new Session(ws, cuid);
  const ready = new Promise((resolve, reject) => {
    let registered = false;
    ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', v: 1, token })));
    ws.on('message', (data) => {
      const t = performance.now();
      const msg = JSON.parse(data);
      if (registered) return s.onEvent(msg, t);
      if (msg.type === 'registered') {
        registered = true;
        s.sessionId = msg.session_id;
        resolve(s);
      } else if (msg.type === 'error') {
        reject(new Error(`hello refused for ${cuid}: ${msg.code}`));
      }
    });
    ws.once('error', (e) => reject(e));
    ws.once('close', (code) => reject(new Error(`closed ${code} before registered`)));
  });
  return withTimeout(ready, timeoutMs, `registered for ${cuid}`).catch((e) => {
    ws.terminate();
    throw e;
  });
}

// A plain connection to the echo server; onEcho(data, rxTimeMs) gets every frame back.
export function connectEcho(url, timeoutMs = 30000) {
  const ws = new WebSocket(url, WS_OPTS);
  const c = { ws, onEcho: () => {}, closed: new Promise((r) => ws.once('close', r)) };
  ws.on('message', (data) => c.onEcho(data, performance.now()));
  const open = new Promise((resolve, reject) => {
    ws.once('open', () => resolve(c));
    ws.once('error', reject);
  });
  return withTimeout(open, timeoutMs, 'echo connection').catch((e) => {
    ws.terminate();
    throw e;
  });
}

// Runs make(i) for i in [0, n) with at most `window` in flight. Resolves with
// {ok: [results in order, null where failed], errors: {message: count}, seconds}.
export async function openMany(n, make, window = 200) {
  const ok = new Array(n).fill(null);
  const errors = {};
  let next = 0;
  const t0 = performance.now();
  async function worker() {
    while (next < n) {
      const i = next++;
      try {
        ok[i] = await make(i);
      } catch (e) {
        const k = String(e.code || e.message).slice(0, 120);
        errors[k] = (errors[k] || 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
  return { ok, errors, seconds: (performance.now() - t0) / 1000 };
}

// Closes every socket and waits (bounded) for the closes to complete.
export async function closeAll(conns, timeoutMs = 20000) {
  const live = conns.filter(Boolean);
  for (const c of live) c.ws.close();
  try {
    await withTimeout(Promise.all(live.map((c) => c.closed)), timeoutMs, 'sockets to close');
  } catch {
    for (const c of live) c.ws.terminate();
  }
}

// Percentiles of a sample (ms), rounded to microseconds.
export function summarize(samples) {
  if (!samples.length) return { n: 0 };
  const a = Float64Array.from(samples).sort();
  const q = (p) => a[Math.min(a.length - 1, Math.floor(p * a.length))];
  const r = (x) => Math.round(x * 1000) / 1000;
  const mean = a.reduce((s, x) => s + x, 0) / a.length;
  return { n: a.length, p50_ms: r(q(0.5)), p90_ms: r(q(0.9)), p99_ms: r(q(0.99)), max_ms: r(a[a.length - 1]), mean_ms: r(mean) };
}
