// Test harness entry point. A Scope owns every process, socket and proxy a test (or a file) starts
// and tears them all down afterwards; itest() wraps node:test's test() so a failing test's message
// carries the servers' stderr and every CLI's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, createAccount, mintToken, rest, waitHealthy, waitEnded } from './server.mjs';
import { Cli, conn } from './cli.mjs';
import { WsClient, wsClient } from './wsclient.mjs';
import { TcpProxy } from './proxy.mjs';
import { tail, uniqCuid, sanitizerReport } from './proc.mjs';

export * from './proc.mjs';
export * from './server.mjs';
export * from './cli.mjs';
export * from './wsclient.mjs';
export * from './proxy.mjs';
export * from './jwt.mjs';

export class Scope {
  constructor(parent = null) {
    this.parent = parent;
    this.servers = [];
    this.clis = [];
    this.wss = [];
    this.proxies = [];
  }

  async startServer(opts) {
    const s = await startServer(opts);
    this.servers.push(s);
    return s;
  }

  async account(srv, name = 'Acme Rides') {
    return createAccount(srv.dataDir, name);
  }

  // A fresh cuid with a token minted through REST.
  async user(srv, acct, prefix = 'user', tokenOpts = {}) {
    const cuid = uniqCuid(prefix);
    const token = await mintToken(srv, acct, { cuid, ...tokenOpts });
    return { cuid, token, acct };
  }

  cli(args, opts = {}) {
    const c = new Cli(args, { name: opts.name || `cli${this.clis.length + 1}`, env: opts.env });
    this.clis.push(c);
    return c;
  }

  // `dcall <conn> listen ...` for user u.
  listen(srv, u, extra = [], opts = {}) {
    const url = opts.url || srv.url;
    return this.cli([...conn(url, u.token, u.cuid), 'listen', ...extra], { name: opts.name || `listen:${u.cuid}` });
  }

  // `dcall <conn> call TO --context ... ...` for user u.
  call(srv, u, to, extra = [], opts = {}) {
    const url = opts.url || srv.url;
    const args = [...conn(url, u.token, u.cuid), 'call', to, '--context', opts.context || 'Your ride #4821'];
    return this.cli([...args, ...extra], { name: opts.name || `call:${u.cuid}` });
  }

  async ws(srv, token, opts = {}) {
    const c = await WsClient.connect(opts.url || srv.wsUrl, { name: opts.name || `ws${this.wss.length + 1}` });
    this.wss.push(c);
    if (token !== null) await c.hello({ token, ...(opts.hello || {}) });
    return c;
  }

  async proxy(targetPort) {
    const p = await TcpProxy.start(targetPort);
    this.proxies.push(p);
    return p;
  }

  diagnostics() {
    const parts = [];
    for (const c of this.clis) parts.push(c.describe());
    for (const w of this.wss) parts.push(w.describe());
    for (const p of this.proxies) {
      parts.push(`--- proxy :${p.port} -> :${p.targetPort} accepted=${p.accepted} refused=${p.refused} live=${p.live}`);
    }
    for (const s of this.servers) parts.push(`--- dcalld log (${s.dataDir}):\n${tail(s.log, 5000)}`);
    if (this.parent) parts.push(this.parent.diagnostics());
    return parts.join('\n');
  }

  // Stops everything; a sanitizer report from any dcalld or dcall process fails the test.
  async cleanup() {
    await Promise.all(this.clis.map((c) => c.kill('SIGTERM')));
    for (const w of this.wss) w.close();
    await Promise.all(this.proxies.map((p) => p.close()));
    await Promise.all(this.servers.map((s) => s.cleanup()));
    const reports = [...this.servers.map((s) => s.log), ...this.clis.map((c) => c.stderr)]
      .map(sanitizerReport)
      .filter(Boolean);
    if (reports.length) throw new Error(`sanitizer report:\n${reports.join('\n---\n')}`);
  }
}

// test() with a Scope: fn(h, t). Default timeout 45 s per test.
export function itest(name, fn, { parent = null, timeout = 45000, skip } = {}) {
  return test(name, { timeout, skip }, async (t) => {
    const h = new Scope(parent);
    try {
      await fn(h, t);
    } catch (e) {
      // A new Error, because the reporter prints an AssertionError's diff rather than its message.
      const err = new Error(`${e?.message ?? e}\n${h.diagnostics()}`, { cause: e });
      err.stack = `${err.message}\n${(e?.stack || '').split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 4).join('\n')}`;
      throw err;
    } finally {
      await h.cleanup();
    }
  });
}

// Places a call from a to b over raw ws, has b answer it; returns the call id.
export async function rawAnsweredCall(a, b, toCuid, context = 'ctx') {
  const out = await a.request({ type: 'place', client_call_id: `cc-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, to: toCuid, context }, 'outgoing');
  assert.equal(out.type, 'outgoing', `place refused: ${JSON.stringify(out)}`);
  const inc = await b.next('incoming', (m) => m.call_id === out.call_id);
  b.send({ type: 'ringing', call_id: inc.call_id });
  b.send({ type: 'answer', call_id: inc.call_id });
  await a.next('answered', (m) => m.call_id === out.call_id);
  await b.next('answered', (m) => m.call_id === out.call_id);
  return out.call_id;
}

// The server still serves: /healthz is 200 and a brand-new pair completes a call.
export async function assertServes(h, srv, acct) {
  const hz = await rest(srv, 'GET', '/healthz');
  assert.equal(hz.status, 200, '/healthz answers 200');
  const ua = await h.user(srv, acct, 'probea');
  const ub = await h.user(srv, acct, 'probeb');
  const a = await h.ws(srv, ua.token, { name: 'probe-a' });
  const b = await h.ws(srv, ub.token, { name: 'probe-b' });
  const id = await rawAnsweredCall(a, b, ub.cuid);
  a.send({ type: 'hangup', call_id: id });
  const ea = await a.next('ended', (m) => m.call_id === id);
  assert.equal(ea.reason, 'completed');
  const rec = await waitEnded(srv, acct, id);
  assert.equal(rec.reason, 'completed');
  a.close();
  b.close();
}

export { assert, conn, waitHealthy, wsClient };
