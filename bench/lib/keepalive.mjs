// Phase "keepalive": what N idle signed-in sessions cost dcalld's signalling thread, at rest and
// while --keepalive-rate protocol pings a second (`ping` -> `pong`) come in, spread over
// rate/10 more sessions (one connection may send 20 messages a second). For
// each N in --keepalive-clients (1000,10000) a fresh dcalld is started (pinned to CPU 0), the N
// sessions sign in and are left idle (the `ws` package answers WebSocket pings), then two windows
// of --keepalive-seconds (30: two keepalive intervals) are timed: idle, then the ping load.
// With perf on the PATH (and allowed), each window is also sampled with `perf record -p` and the
// share of samples in lws_dll2_add_sorted (lws's sorted timer list) is reported.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as P from './proc.mjs';
import { connectSession, openMany, closeAll, mintToken } from './clients.mjs';

const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function perfUsable() {
  try {
    execFileSync('perf', ['stat', '-e', 'task-clock', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Samples pid for `seconds` (perf record, no call graphs); resolves with the file or null.
function perfRecord(pid, seconds, file) {
  return new Promise((resolve) => {
    const p = spawn('perf', ['record', '-q', '-F', '499', '-p', String(pid), '-o', file, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
    p.once('exit', (code) => resolve(code === 0 && fs.existsSync(file) ? file : null));
    p.once('error', () => resolve(null));
  });
}

// Self shares (%) of the symbols that matter here, and the top 5, from a perf.data file.
function perfShares(file) {
  if (!file) return null;
  let text;
  try {
    text = execFileSync('perf', ['report', '-i', file, '--stdio', '--no-children', '--sort', 'symbol', '--percent-limit', '0'], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }).toString();
  } catch {
    return null;
  }
  const rows = [];
  for (const line of text.split('\n')) {
    const m = /^\s+(\d+\.\d+)%\s+\[[.kH]\]\s+(.+?)\s*$/.exec(line);
    if (m) rows.push({ pct: Number(m[1]), symbol: m[2].replace(/(\s+-)+$/, '') });
  }
  const samples = /^# Samples: (\S+)/m.exec(text);
  const share = (s) => round(rows.filter((r) => r.symbol === s).reduce((a, r) => a + r.pct, 0), 1);
  return {
    samples: samples ? samples[1] : null,
    lws_dll2_add_sorted_pct: share('lws_dll2_add_sorted'),
    top: rows.slice(0, 5).map((r) => `${r.pct}% ${r.symbol}`),
  };
}

// The drivers send `rate` pings a second in all, round robin, for `seconds`; resolves with
// {sent, pongs, other} (other: any reply but pong, e.g. rate_limited).
async function pingLoad(drivers, rate, seconds) {
  let pongs = 0;
  let other = 0;
  for (const s of drivers)
    s.onEvent = (msg) => {
      if (msg.type === 'pong') pongs++;
      else other++;
    };
  const msg = JSON.stringify({ type: 'ping' });
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    while (sent < due) drivers[sent++ % drivers.length].ws.send(msg);
    await P.sleep(5);
  }
  const deadline = performance.now() + 5000;
  while (pongs < sent && performance.now() < deadline) await P.sleep(20);
  return { sent, pongs, other, seconds: (performance.now() - t0) / 1000 };
}

async function window(pid, seconds, perfFile, work) {
  const c0 = P.cpuSeconds(pid);
  const t0 = performance.now();
  const perf = perfFile ? perfRecord(pid, seconds, perfFile) : Promise.resolve(null);
  const r = await (work ? work() : P.sleep(seconds * 1000));
  const file = await perf;
  return { cpu_s: P.cpuSeconds(pid) - c0, wall_s: (performance.now() - t0) / 1000, r, perf: perfShares(file) };
}

async function one(o, tmp, n, usePerf) {
  const bin = path.resolve(o.build, 'bin', 'dcalld');
  const dataDir = path.join(tmp, `keepalive-${n}`);
  const acct = JSON.parse(execFileSync(bin, ['account', 'create', '--data', dataDir, '--name', 'Bench Keepalive'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
  const srv = await P.startServer([bin, '--listen', '127.0.0.1:0', '--data', dataDir, '--no-media', '--log-level', 'warn'], {
    cpu: 0,
    re: /dcalld listening on (http:\/\/127\.0\.0\.1:(\d+))/,
    logFile: path.join(tmp, `dcalld-keepalive-${n}.log`),
  });
  const wsUrl = `${srv.match[1].replace('http', 'ws')}/v1/ws`;
  let idle = null;
  try {
    P.log(`keepalive: ${n} idle sessions`);
    const connect = (cuid) => connectSession(wsUrl, mintToken(acct, cuid, cuid), cuid);
    const cpu0 = P.cpuSeconds(srv.pid);
    idle = await openMany(n, (i) => connect(`ka_${String(i).padStart(6, '0')}`));
    const signInCpu = P.cpuSeconds(srv.pid) - cpu0;
    const held = idle.ok.filter(Boolean).length;
    // a connection may send 20 messages a second (session.c): the load is spread at 10/s each
    const nDrivers = Math.ceil(o.keepaliveRate / 10);
    const drivers = (await openMany(nDrivers, (i) => connect(`ka_driver_${i}`))).ok.filter(Boolean);
    if (drivers.length !== nDrivers) throw new Error(`keepalive: ${nDrivers - drivers.length} driver sessions failed`);
    idle.ok.push(...drivers);
    await P.sleep(1000);
    const sec = o.keepaliveSeconds;
    const rest = await window(srv.pid, sec, usePerf && path.join(tmp, `perf-idle-${n}.data`));
    P.log(`keepalive: ${n} sessions idle for ${sec} s, then ${o.keepaliveRate} pings/s (${nDrivers} more sessions at 10/s) for ${sec} s`);
    const load = await window(srv.pid, sec, usePerf && path.join(tmp, `perf-load-${n}.data`), () => pingLoad(drivers, o.keepaliveRate, sec));
    const idleRate = rest.cpu_s / rest.wall_s;
    const extra = load.cpu_s - idleRate * load.wall_s;
    return {
      sessions: held,
      driver_sessions: nDrivers,
      failures: idle.errors,
      sign_in_seconds: round(idle.seconds, 2),
      dcalld_cpu_s_sign_in: round(signInCpu, 2),
      idle: { seconds: round(rest.wall_s, 1), dcalld_cpu_utilization: round(idleRate, 3), perf: rest.perf },
      load: {
        pings_sent: load.r.sent,
        pongs: load.r.pongs,
        other_replies: load.r.other,
        seconds: round(load.wall_s, 1),
        dcalld_cpu_utilization: round(load.cpu_s / load.wall_s, 3),
        dcalld_cpu_us_per_msg: round((load.cpu_s * 1e6) / load.r.sent, 1),
        dcalld_cpu_us_per_msg_above_idle: round((extra * 1e6) / load.r.sent, 1),
        perf: load.perf,
      },
    };
  } finally {
    if (idle) await closeAll(idle.ok);
    await P.stopServer(srv);
  }
}

export async function phaseKeepalive(o, out, tmp) {
  const usePerf = perfUsable();
  const res = { rate_per_s: o.keepaliveRate, window_seconds: o.keepaliveSeconds, perf: usePerf, by_sessions: {} };
  for (const n of o.keepaliveClients) res.by_sessions[n] = await one(o, tmp, n, usePerf);
  out.keepalive = res;
}
