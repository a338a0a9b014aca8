// A real dcalld on loopback with a fresh data dir, plus the REST helpers the tests use.
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binDir, track, tail, withTimeout, waitUntil, tempDirs } from './proc.mjs';

const LISTEN_RE = /dcalld listening on (https?:\/\/127\.0\.0\.1:(\d+))/;

function spawnDcalld(srv, port) {
  // --drain-timeout 0: a test's closing SIGTERM ends at once, and a sanitizer build then reports
  // leaks at exit (a test may pass its own --drain-timeout later in extraArgs).
  const args = ['--listen', `127.0.0.1:${port}`, '--data', srv.dataDir, '--test-mode', '--drain-timeout', '0'];
  // the tests' webhook receivers listen on loopback, which dcalld refuses by default
  if (srv.opts.webhookPrivate !== false) args.push('--webhook-allow-private');
  if (srv.opts.ringTimeout != null) args.push('--ring-timeout', String(srv.opts.ringTimeout));
  if (srv.opts.grace != null) args.push('--reconnect-grace', String(srv.opts.grace));
  args.push(...(srv.opts.extraArgs || []));
  const proc = track(spawn(path.join(binDir(), 'dcalld'), args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  srv.log += `\n--- dcalld ${args.join(' ')} (pid ${proc.pid})\n`;
  proc.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => (srv.log += d));
  proc.stdout.setEncoding('utf8');
  let buf = '';
  const listening = new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      srv.log += d;
      buf += d;
      const m = LISTEN_RE.exec(buf);
      if (m) resolve({ url: m[1], port: Number(m[2]) });
    });
    proc.once('exit', (code, signal) =>
      reject(new Error(`dcalld exited (code ${code}, signal ${signal}) before listening`)),
    );
    proc.once('error', reject);
  });
  return { proc, listening };
}

async function launch(srv, port) {
  const { proc, listening } = spawnDcalld(srv, port);
  srv.proc = proc;
  try {
    const { url, port: p } = await withTimeout(listening, 15000, 'dcalld to print its listening line');
    srv.url = url;
    srv.port = p;
    srv.wsUrl = `${url.startsWith("https") ? "wss" : "ws"}://127.0.0.1:${p}/v1/ws`;
  } catch (e) {
    proc.kill('SIGKILL');
    e.message += `\n${tail(srv.log)}`;
    throw e;
  }
}

// Starts dcalld. opts: {ringTimeout, grace, extraArgs, dataDir}. The returned object is updated in
// place by restart() (new pid; same port when it can be had again).
export async function startServer(opts = {}) {
  const dataDir = opts.dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'dcall-itest-'));
  if (!opts.dataDir) tempDirs.add(dataDir);
  const srv = {
    opts,
    dataDir,
    ownsDir: !opts.dataDir,
    log: '',
    proc: null,
    url: null,
    port: null,
    wsUrl: null,
    async stop(signal = 'SIGTERM', timeoutMs = 10000) {
      const p = srv.proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return p ? p.exited : null;
      p.kill(signal);
      try {
        return await withTimeout(p.exited, timeoutMs, `dcalld to exit after ${signal}`);
      } catch {
        p.kill('SIGKILL');
        return p.exited;
      }
    },
    async kill9() {
      const p = srv.proc;
      p.kill('SIGKILL');
      return p.exited;
    },
    // Restarts on the same data dir, trying the same port first so that clients can come back.
    async restart() {
      await srv.stop('SIGKILL');
      try {
        await launch(srv, srv.port);
      } catch {
        await launch(srv, 0);
      }
      return srv;
    },
    async cleanup() {
      await srv.stop('SIGTERM', 5000);
      if (srv.ownsDir && !process.env.DCALL_KEEP_TMP) {
        fs.rmSync(srv.dataDir, { recursive: true, force: true });
        tempDirs.delete(srv.dataDir);
      }
    },
  };
  try {
    await launch(srv, 0);
  } catch (e) {
    await srv.cleanup();
    throw e;
  }
  return srv;
}

// `dcalld account create`: {account_id, api_key, api_secret}.
export function createAccount(dataDir, name = 'Acme Rides') {
  return new Promise((resolve, reject) => {
    execFile(
      path.join(binDir(), 'dcalld'),
      ['account', 'create', '--data', dataDir, '--name', name],
      { timeout: 15000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`dcalld account create failed: ${err.message}\n${stderr}`));
        const lines = stdout.split('\n').filter((l) => l.trim().startsWith('{'));
        if (lines.length !== 1) return reject(new Error(`expected one JSON line, got: ${stdout}`));
        const acct = JSON.parse(lines[0]);
        for (const k of ['account_id', 'api_key', 'api_secret']) {
          if (typeof acct[k] !== 'string' || !acct[k]) return reject(new Error(`account create: no ${k}`));
        }
        resolve(acct);
      },
    );
  });
}

export const authOf = (acct) => [acct.account_id, acct.api_secret];

// fetch against the server. auth: [id, secret] or an account object. Returns {status, headers,
// text, json}; json is null when the body is not JSON.
export async function rest(srv, method, pathAndQuery, { auth, body, rawBody, headers = {} } = {}) {
  const h = { ...headers };
  if (auth) {
    const [id, secret] = Array.isArray(auth) ? auth : authOf(auth);
    h.authorization = 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');
  }
  let payload;
  if (rawBody !== undefined) payload = rawBody;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined && !h['content-type']) h['content-type'] = 'application/json';
  const res = await fetch(srv.url + pathAndQuery, {
    method,
    headers: h,
    body: payload,
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, text, json };
}

export async function mintToken(srv, acct, { cuid, name, ttl, callees } = {}) {
  const body = { cuid };
  if (name !== undefined) body.name = name;
  if (ttl !== undefined) body.ttl = ttl;
  if (callees !== undefined) body.callees = callees;
  const r = await rest(srv, 'POST', '/v1/tokens', { auth: acct, body });
  if (r.status !== 201 || !r.json || typeof r.json.token !== 'string') {
    throw new Error(`POST /v1/tokens -> ${r.status} ${r.text}`);
  }
  return r.json.token;
}

export async function waitHealthy(srv, timeoutMs = 10000) {
  return waitUntil(
    async () => {
      const r = await rest(srv, 'GET', '/healthz');
      return r.status === 200 ? r : null;
    },
    { timeoutMs, intervalMs: 100, what: '/healthz 200' },
  );
}

export async function getCall(srv, acct, id) {
  const r = await rest(srv, 'GET', `/v1/calls/${encodeURIComponent(id)}`, { auth: acct });
  if (r.status !== 200) throw new Error(`GET /v1/calls/${id} -> ${r.status} ${r.text}`);
  return r.json;
}

// Polls a call record until it is ended (records are written before parties are told, but REST
// may be asked a moment before the CLI's last line is read).
export async function waitEnded(srv, acct, id, timeoutMs = 5000) {
  return waitUntil(
    async () => {
      const c = await getCall(srv, acct, id);
      return c.state === 'ended' ? c : null;
    },
    { timeoutMs, what: `call ${id} to be ended` },
  );
}

export async function listCalls(srv, acct, query = '') {
  const r = await rest(srv, 'GET', `/v1/calls${query ? '?' + query : ''}`, { auth: acct });
  if (r.status !== 200) throw new Error(`GET /v1/calls?${query} -> ${r.status} ${r.text}`);
  return r.json;
}
