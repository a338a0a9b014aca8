// A real `dcall` CLI process: stdout JSON lines become events; waitFor() and exit() are bounded.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { binDir, track, tail, withTimeout } from './proc.mjs';

export class Cli {
  constructor(args, { name = 'dcall', env } = {}) {
    this.name = name;
    this.args = args;
    this.events = [];
    this.badLines = [];
    this.stdout = '';
    this.stderr = '';
    this.waiters = [];
    this.proc = track(
      spawn(path.join(binDir(), 'dcall'), args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...(env || {}) },
      }),
    );
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
        this._notify();
      });
      this.proc.once('error', (e) => {
        this.stderr += `spawn error: ${e.message}\n`;
        this.exitInfo = { code: null, signal: null, error: e };
        resolve(this.exitInfo);
      });
    });
    let buf = '';
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (d) => {
      this.stdout += d;
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        try {
          const ev = JSON.parse(line);
          ev._rx = Date.now();
          this.events.push(ev);
        } catch {
          this.badLines.push(line);
        }
      }
      this._notify();
    });
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d) => (this.stderr += d));
  }

  _notify() {
    for (const w of [...this.waiters]) w();
  }

  // Events of one kind (optionally about one call).
  all(event, callId) {
    return this.events.filter((e) => e.event === event && (callId === undefined || e.call_id === callId));
  }

  forCall(callId) {
    return this.events.filter((e) => e.call_id === callId);
  }

  // Resolves with the first event (already seen or future) named `event` that passes pred.
  waitFor(event, pred = () => true, timeoutMs = 10000) {
    const find = () => this.events.find((e) => e.event === event && pred(e));
    const found = find();
    if (found) return Promise.resolve(found);
    let waiter;
    const p = new Promise((resolve, reject) => {
      waiter = () => {
        const ev = find();
        if (ev) resolve(ev);
        else if (this.exitInfo) {
          reject(new Error(`${this.name} exited (${JSON.stringify(this.exitInfo)}) without '${event}'`));
        }
      };
      this.waiters.push(waiter);
      if (this.exitInfo) waiter();
    });
    return withTimeout(p, timeoutMs, `${this.name}: event '${event}'`).finally(() => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
    });
  }

  // The call's `ended` event (the CLI's own end of the call, before any exit).
  // Waits a little longer so that a duplicate would be seen by the checks that follow.
  async ended(callId, timeoutMs = 15000) {
    const e = await this.waitFor('ended', (x) => x.call_id === callId, timeoutMs);
    await new Promise((r) => setTimeout(r, 200));
    return e;
  }

  // Waits for the process to exit: {code, signal}.
  exit(timeoutMs = 15000) {
    return withTimeout(this.exited, timeoutMs, `${this.name} to exit`);
  }

  // Sends signal; escalates to SIGKILL if the process is still there after 3 s.
  async kill(signal = 'SIGKILL') {
    if (this.exitInfo) return this.exitInfo;
    this.proc.kill(signal);
    if (signal === 'SIGKILL') return this.exited;
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }

  describe() {
    const evs = this.events.map(({ _rx, ...e }) => JSON.stringify(e)).join('\n');
    return (
      `--- ${this.name}: dcall ${redact(this.args).join(' ')} exit=${JSON.stringify(this.exitInfo)}\n` +
      `stdout events:\n${tail(evs, 3000)}\n` +
      (this.badLines.length ? `non-JSON stdout:\n${tail(this.badLines.join('\n'), 1000)}\n` : '') +
      `stderr:\n${tail(this.stderr, 2000)}`
    );
  }
}

// Diagnostics never show tokens or secrets.
function redact(args) {
  return args.map((a, i) => (['--token', '--api-secret'].includes(args[i - 1]) ? '<redacted>' : a));
}

// The connection options every invocation needs.
export function conn(serverUrl, token, cuid, name) {
  const a = ['--server', serverUrl, '--token', token, '--cuid', cuid];
  if (name) a.push('--name', name);
  return a;
}

// Asserts that each CLI exits with `code` (checked last in tests, after the call's events).
export async function exitsWith(assert, code, ...clis) {
  for (const c of clis) {
    const ex = await c.exit(10000);
    assert.equal(ex.code, code, `${c.name} exits ${code} (got ${JSON.stringify(ex)})`);
  }
}

// Asserts the per-call contract of the CLI: exactly one `ended` for the call and nothing about the
// call after it. Returns that `ended` event.
export function endedOnce(assert, cli, callId) {
  const evs = cli.forCall(callId);
  const ended = evs.filter((e) => e.event === 'ended');
  assert.equal(ended.length, 1, `${cli.name}: exactly one 'ended' for ${callId}, got ${ended.length}`);
  assert.equal(evs[evs.length - 1].event, 'ended', `${cli.name}: 'ended' is the last event of ${callId}`);
  assert.equal(typeof ended[0].duration_ms, 'number', `${cli.name}: ended.duration_ms is a number`);
  return ended[0];
}
