// Webhook test helpers: a real HTTP receiver on loopback that records every delivery (raw body
// and headers, so signatures can be checked over the exact bytes sent), plus thin wrappers for
// the settings, the webhook log and the test clock of a dcalld started with --test-mode.
import http from 'node:http';
import crypto from 'node:crypto';
import { rest } from './server.mjs';
import { waitUntil } from './proc.mjs';

export class WebhookReceiver {
  // respond(req, n) -> HTTP status for the n-th request (1-based); 200 by default.
  constructor({ respond } = {}) {
    this.respond = respond || (() => 200);
    this.requests = [];
    this.server = null;
    this.port = null;
  }

  // Listens on 127.0.0.1 (port 0 = any free one; pass the old port to come back up after close()).
  static async start(opts = {}, port = 0) {
    const r = new WebhookReceiver(opts);
    await r.listen(port);
    return r;
  }

  listen(port = 0) {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try {
          json = JSON.parse(raw);
        } catch {
          /* recorded as raw only */
        }
        const rec = { method: req.method, url: req.url, headers: req.headers, raw, json, at: Date.now() };
        this.requests.push(rec);
        rec.status = this.respond(rec, this.requests.length);
        res.writeHead(rec.status, { 'content-type': 'text/plain' });
        res.end(rec.status < 300 ? 'ok' : 'nope');
      });
    });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve(this);
      });
    });
  }

  get url() {
    return `http://127.0.0.1:${this.port}/hooks/dcall`;
  }

  // Deliveries answered with a 2xx.
  accepted() {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300);
  }

  // Waits until pred(requests) is truthy; returns its value.
  waitFor(pred, what, timeoutMs = 5000) {
    return waitUntil(() => pred(this.requests), { timeoutMs, intervalMs: 20, what });
  }

  // Stops listening and drops kept-alive connections, so the next delivery is refused.
  close() {
    if (!this.server) return Promise.resolve();
    const s = this.server;
    this.server = null;
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  describe() {
    return (
      `--- webhook receiver :${this.port}, ${this.requests.length} request(s)\n` +
      this.requests.map((r) => `${r.status} ${r.json ? `${r.json.type} ${r.json.id}` : r.raw.slice(0, 200)}`).join('\n')
    );
  }
}

// The signature docs/api.md promises: v1=hex(HMAC-SHA256(secret, "<timestamp>.<raw body>")).
export function expectedSignature(secret, timestamp, raw) {
  return 'v1=' + crypto.createHmac('sha256', secret).update(`${timestamp}.${raw}`).digest('hex');
}

// True when the request's X-Dcall-Signature is right for its X-Dcall-Timestamp and raw body.
export function signatureValid(secret, req) {
  const ts = req.headers['x-dcall-timestamp'];
  const sig = req.headers['x-dcall-signature'];
  if (typeof ts !== 'string' || typeof sig !== 'string') return false;
  const want = Buffer.from(expectedSignature(secret, ts, req.raw));
  const got = Buffer.from(sig);
  return want.length === got.length && crypto.timingSafeEqual(want, got);
}

// PUT /v1/settings; returns {status, json}.
export async function putSettings(srv, acct, body) {
  return rest(srv, 'PUT', '/v1/settings', { auth: acct, body });
}

// Points the account's webhooks at url (events: [] = all) and returns the PUT's JSON, which
// carries webhook_secret the first time a URL is set.
export async function setWebhook(srv, acct, url, events = []) {
  const r = await putSettings(srv, acct, { webhook_url: url, webhook_events: events });
  if (r.status !== 200) throw new Error(`PUT /v1/settings -> ${r.status} ${r.text}`);
  return r.json;
}

// GET /v1/webhooks/log -> the deliveries array, newest first.
export async function webhookLog(srv, acct, limit = 1000) {
  const r = await rest(srv, 'GET', `/v1/webhooks/log?limit=${limit}`, { auth: acct });
  if (r.status !== 200 || !r.json || !Array.isArray(r.json.deliveries)) {
    throw new Error(`GET /v1/webhooks/log -> ${r.status} ${r.text}`);
  }
  return r.json.deliveries;
}

// POST /_test/clock: moves the server's wall clock forward; returns the server's new now_ms.
export async function advanceClock(srv, ms) {
  const r = await rest(srv, 'POST', '/_test/clock', { body: { advance_ms: ms } });
  if (r.status !== 200) throw new Error(`POST /_test/clock -> ${r.status} ${r.text}`);
  return r.json.now_ms;
}
