#!/usr/bin/env node
// dcall benchmark: `node bench/run.mjs --build BUILD_DIR` (what `make bench` runs). Talks only to
// 127.0.0.1, prints one JSON summary on stdout (progress on stderr) and exits by itself within a
// few minutes. See bench/README.md for what is measured and how to read the figures.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as P from './lib/proc.mjs';
import { connectSession, connectEcho, openMany, closeAll, mintToken, summarize } from './lib/clients.mjs';
import { closedLoop, openLoop, pingOpenLoop, echoOpenLoop, echoClosedLoop } from './lib/calls.mjs';
import { phaseMedia } from './lib/media.mjs';
import { phaseStats } from './lib/stats.mjs';
import { phaseKeepalive } from './lib/keepalive.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WATCHDOG_S = 285;
const MEDIA_WATCHDOG_S = 270; // added when the media phase runs (it takes ~2.5 min)
const STATS_WATCHDOG_S = 240; // added when the stats phase runs (1,000,000 records: ~1.5 min)
const KEEPALIVE_WATCHDOG_S = 240; // added when the optional keepalive phase runs (~2 min)

function parseArgs(argv) {
  const o = { build: 'build', clients: 10000, pairs: 4000, inflight: 200, setupSeconds: 10, rate: 200, latencySeconds: 10, latencyPairs: 500, keep: false, only: null, mediaCalls: [100, 500, 1000], mediaSeconds: 20, statsCalls: 1000000, statsRuns: 20, statsBaselineRuns: 10, keepalive: false, keepaliveClients: [1000, 10000], keepaliveRate: 1000, keepaliveSeconds: 30 };
  const num = { '--clients': 'clients', '--pairs': 'pairs', '--inflight': 'inflight', '--setup-seconds': 'setupSeconds', '--rate': 'rate', '--latency-seconds': 'latencySeconds', '--latency-pairs': 'latencyPairs', '--media-seconds': 'mediaSeconds', '--stats-calls': 'statsCalls', '--stats-runs': 'statsRuns', '--keepalive-rate': 'keepaliveRate', '--keepalive-seconds': 'keepaliveSeconds' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--build') o.build = argv[++i];
    else if (num[a]) o[num[a]] = Number(argv[++i]);
    else if (a === '--keep') o.keep = true;
    else if (a === '--keepalive') o.keepalive = true;
    else if (a === '--keepalive-clients' && /^\d+(,\d+)*$/.test(argv[i + 1] || '')) o.keepaliveClients = argv[++i].split(',').map(Number);
    else if (a === '--media-calls' && /^\d+(,\d+)*$/.test(argv[i + 1] || '')) o.mediaCalls = argv[++i].split(',').map(Number).sort((x, y) => x - y);
    else if (a === '--only' && ['held', 'setups', 'latency', 'srtp', 'media', 'stats', 'keepalive'].includes(argv[i + 1])) o.only = argv[++i];
    else {
      process.stderr.write(`usage: node bench/run.mjs --build DIR [--clients N] [--pairs N] [--inflight N] [--setup-seconds S] [--rate R] [--latency-seconds S] [--latency-pairs N] [--media-calls K1,K2,..] [--media-seconds S] [--stats-calls N] [--stats-runs R] [--keepalive] [--keepalive-clients N1,N2,..] [--keepalive-rate R] [--keepalive-seconds S] [--only held|setups|latency|srtp|media|stats|keepalive] [--keep]\n`);
      process.exit(2);
    }
  }
  return o;
}

// The generator re-executes itself with RLIMIT_NOFILE raised to the hard limit and pinned to CPU
// 1 (dcalld and the echo server get CPU 0), so the two sides do not steal each other's core.
function reexec() {
  const pin = P.haveCmd('taskset') && os.cpus().length >= 2 ? ['taskset', '-c', '1'] : [];
  const script =
    'h=$(ulimit -Hn); [ "$h" = unlimited ] && h=1048576; ulimit -n "$h" 2>/dev/null || ulimit -n 65536 2>/dev/null; exec "$@"';
  const child = spawn('sh', ['-c', script, 'sh', ...pin, process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, DCALL_BENCH_CHILD: pin.length ? 'pinned' : 'unpinned' },
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, sig) => process.exit(code ?? (sig ? 1 : 0)));
}

const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

async function metrics(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const get = (name) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  return { connections: get('dcall_connections'), sessions: get('dcall_sessions') };
}

// Ends every session at once (no reconnect grace) so the next phase starts from a quiet server.
async function logoutAll(sessions) {
  for (const s of sessions) if (s) s.send({ type: 'logout' });
  await closeAll(sessions);
}

async function signIn(ctx, prefix, n) {
  const r = await openMany(n, (i) => {
    const cuid = `${prefix}_${String(i).padStart(6, '0')}`;
    return connectSession(ctx.wsUrl, mintToken(ctx.acct, cuid, `Bench ${i}`), cuid);
  });
  return r;
}

// 1. Connected clients held: N idle sockets on the echo baseline, then N signed-in sessions.
async function phaseHeld(ctx, o, out) {
  P.log(`held: ${o.clients} connections to the echo baseline`);
  const eBefore = P.rssKb(ctx.echo.pid);
  const e = await openMany(o.clients, () => connectEcho(ctx.echoUrl));
  await P.sleep(500);
  const eAfter = P.rssKb(ctx.echo.pid);
  const eHeld = e.ok.filter(Boolean).length;
  await closeAll(e.ok);

  P.log(`held: ${o.clients} signed-in sessions on dcalld`);
  const before = P.rssKb(ctx.dcalld.pid);
  const d = await signIn(ctx, 'held', o.clients);
  await P.sleep(500);
  const after = P.rssKb(ctx.dcalld.pid);
  const held = d.ok.filter(Boolean).length;
  const m = await metrics(ctx.url);
  const genRss = P.rssKb(process.pid);
  await logoutAll(d.ok);
  await P.sleep(1000);
  const released = P.rssKb(ctx.dcalld.pid);
  const perConn = held ? ((after - before) * 1024) / held : null;
  const ePerConn = eHeld ? ((eAfter - eBefore) * 1024) / eHeld : null;
  out.clients_held = {
    target: { clients: 10000, dcalld_rss_mb_below: 200 },
    dcalld: {
      requested: o.clients,
      registered: held,
      failures: d.errors,
      connect_seconds: round(d.seconds, 2),
      sign_ins_per_s: round(held / d.seconds, 0),
      rss_before_kb: before,
      rss_after_kb: after,
      rss_after_logout_kb: released,
      per_connection_bytes: perConn && Math.round(perConn),
      metrics_at_peak: m,
    },
    baseline_echo: {
      connected: eHeld,
      failures: e.errors,
      connect_seconds: round(e.seconds, 2),
      rss_before_kb: eBefore,
      rss_after_kb: eAfter,
      per_connection_bytes: ePerConn && Math.round(ePerConn),
    },
    generator_rss_kb_at_peak: genRss,
    ratio_per_connection_bytes: perConn && ePerConn ? round(perConn / ePerConn, 1) : null,
    ratio_connect_time: round(d.seconds / e.seconds, 2),
    target_met: held >= 10000 && after < 200 * 1024,
  };
}

// Completed calls in the store: REST (every page of GET /v1/calls?status=completed) and, when
// the CLI exists, the reason counts straight from the SQLite file.
async function countStored(ctx, wantIds) {
  const auth = 'Basic ' + Buffer.from(`${ctx.acct.account_id}:${ctx.acct.api_secret}`).toString('base64');
  const ids = new Set();
  let cursor = null;
  for (let page = 0; page < 200; page++) {
    const q = `status=completed&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await fetch(`${ctx.url}/v1/calls?${q}`, { headers: { authorization: auth } });
    if (res.status !== 200) throw new Error(`GET /v1/calls -> ${res.status}`);
    const body = await res.json();
    for (const c of body.calls) ids.add(c.id);
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  const missing = wantIds.filter((id) => !ids.has(id)).length;
  const r = { rest_completed_records: ids.size, completed_cycles_missing_from_store: missing };
  if (P.haveCmd('sqlite3')) {
    const db = path.join(ctx.dataDir, 'dcall.db');
    const rows = execFileSync('sqlite3', ['-readonly', db, 'SELECT reason, count(*) FROM calls GROUP BY reason;']).toString();
    r.sqlite_rows_by_reason = Object.fromEntries(rows.trim().split('\n').filter(Boolean).map((l) => {
      const [k, v] = l.split('|');
      return [k || 'open', Number(v)];
    }));
  }
  return r;
}

// 2. Call setups per second, closed loop, then the echo baseline's round trips per second.
async function phaseSetups(ctx, o, out) {
  P.log(`setups: signing in ${o.pairs} pairs`);
  const rssStart = P.rssKb(ctx.dcalld.pid);
  const s = await signIn(ctx, 'setup', o.pairs * 2);
  const sessions = s.ok.filter(Boolean);
  P.log(`setups: ${sessions.length} sessions; cycling for ${o.setupSeconds} s`);
  const cpu0 = P.cpuSeconds(ctx.dcalld.pid);
  const st0 = P.cpuTimes(0);
  const g0 = process.cpuUsage();
  const w0 = performance.now();
  const r = await closedLoop(sessions, o.setupSeconds, o.inflight);
  const wall = (performance.now() - w0) / 1000;
  const dcpu = P.cpuSeconds(ctx.dcalld.pid) - cpu0;
  const cpu0Shares = P.cpuShares(st0, P.cpuTimes(0));
  const g = process.cpuUsage(g0);
  const perS = r.completedInWindow / o.setupSeconds;
  P.log(`setups: ${round(perS, 0)} cycles/s; verifying the store`);
  const stored = await countStored(ctx, r.stats.completedIds);
  await logoutAll(sessions);
  await P.sleep(500);
  const rssEnd = P.rssKb(ctx.dcalld.pid);

  P.log(`setups baseline: echo closed loop, ${o.inflight} frames in flight`);
  const e = await openMany(o.inflight, () => connectEcho(ctx.echoUrl));
  const econns = e.ok.filter(Boolean);
  const ecpu0 = P.cpuSeconds(ctx.echo.pid);
  const eb = await echoClosedLoop(econns, Math.min(5, o.setupSeconds));
  const ecpu = P.cpuSeconds(ctx.echo.pid) - ecpu0;
  await closeAll(econns);
  const ePerS = eb.roundTrips / eb.seconds;
  out.call_setups = {
    target: { cycles_per_s_at_least: 1000, durable: true },
    pairs: sessions.length / 2,
    cycles_in_flight: o.inflight,
    sign_in_failures: s.errors,
    window_seconds: o.setupSeconds,
    completed_cycles_in_window: r.completedInWindow,
    cycles_per_s: round(perS, 0),
    outcomes_all: r.stats.outcomes,
    errors: r.stats.errors,
    rate_limited_pairs: r.rateLimitedPairs,
    stuck_cycles: r.stuck,
    place_to_incoming_under_load: summarize(r.stats.placeToIncoming),
    dcalld_cpu_utilization: round(dcpu / wall, 2),
    dcalld_cpu_ms_per_cycle: round((dcpu * 1000) / Math.max(1, r.stats.completedIds.length), 3),
    cpu0_time_shares: cpu0Shares,
    generator_cpu_utilization: round((g.user + g.system) / 1e6 / wall, 2),
    store: stored,
    durable_verified: stored.completed_cycles_missing_from_store === 0,
    dcalld_rss_kb: { before_sign_in: rssStart, after_logout: rssEnd },
    dcalld_rss_growth_bytes_per_call: round(((rssEnd - rssStart) * 1024) / Math.max(1, r.stats.completedIds.length), 0),
    baseline_echo: {
      connections: econns.length,
      round_trips_per_s: round(ePerS, 0),
      echo_cpu_utilization: round(ecpu / eb.seconds, 2),
    },
    ratio_cycles_to_echo_round_trips: round(perS / ePerS, 3),
    target_met: perS >= 1000 && stored.completed_cycles_missing_from_store === 0 && !r.rateLimitedPairs,
  };
}

// 3. place->incoming latency at a steady rate, and the echo round trip at the same rate.
async function phaseLatency(ctx, o, out) {
  P.log(`latency: signing in ${o.latencyPairs} pairs`);
  const s = await signIn(ctx, 'lat', o.latencyPairs * 2);
  const sessions = s.ok.filter(Boolean);
  P.log(`latency: ${o.rate} setups/s for ${o.latencySeconds} s`);
  const r = await openLoop(sessions, o.rate, o.latencySeconds);
  P.log(`latency: dcalld ping->pong at ${o.rate}/s for ${Math.min(5, o.latencySeconds)} s`);
  const pp = await pingOpenLoop(sessions, o.rate, Math.min(5, o.latencySeconds));
  await logoutAll(sessions);

  P.log(`latency baseline: echo at ${o.rate}/s for ${o.latencySeconds} s`);
  const e = await openMany(100, () => connectEcho(ctx.echoUrl));
  const econns = e.ok.filter(Boolean);
  const eb = await echoOpenLoop(econns, o.rate, o.latencySeconds);
  await closeAll(econns);
  const lat = summarize(r.stats.placeToIncoming);
  const ack = summarize(r.stats.placeToOutgoing);
  const echo = summarize(eb.rtt);
  out.latency = {
    target: { place_to_incoming_p99_ms_below: 5 },
    rate_per_s: o.rate,
    seconds: o.latencySeconds,
    pairs: sessions.length / 2,
    outcomes: r.stats.outcomes,
    errors: r.stats.errors,
    skipped_no_idle_pair: r.skipped,
    place_to_incoming: lat,
    place_to_outgoing: ack,
    dcalld_ping_round_trip: summarize(pp.rtt),
    baseline_echo_round_trip: { ...echo, lost: eb.lost },
    ratio_p50: lat.n && echo.n ? round(lat.p50_ms / echo.p50_ms, 2) : null,
    ratio_p99: lat.n && echo.n ? round(lat.p99_ms / echo.p99_ms, 2) : null,
    target_met: lat.n > 0 && lat.p99_ms < 5,
  };
}

// 4. SRTP protect/unprotect CPU-ns per packet for each libsrtp2 build, through the relay's own
// wrapper (bench/srtp_bench.c, CMake target srtp_bench); the OpenSSL build runs the NSS one.
function phaseSrtp(o, out) {
  P.log('srtp: protect/unprotect per packet, each libsrtp2 build');
  execFileSync('cmake', ['--build', o.build, '--target', 'srtp_bench'], { stdio: ['ignore', 2, 2] });
  const bin = (v) => path.resolve(o.build, 'bench', `srtp_bench_${v}`);
  const args = ['--packets', '50000', '--rounds', '5'];
  const cmd = fs.existsSync(bin('openssl')) ? [bin('openssl'), '--vs', bin('nss'), ...args] : [bin('nss'), ...args];
  out.srtp = JSON.parse(execFileSync(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 2] }).toString());
}

// The figures the issue asks for, each next to its baseline ratio and target, for a quick read.
function headline(out) {
  const h = {};
  const c = out.clients_held;
  if (c) {
    h.clients_held = c.dcalld.registered;
    h.dcalld_rss_mb_at_peak = round(c.dcalld.rss_after_kb / 1024, 1);
    h.dcalld_bytes_per_connection = c.dcalld.per_connection_bytes;
    h.vs_echo_bytes_per_connection = c.ratio_per_connection_bytes;
    h.connect_all_seconds = c.dcalld.connect_seconds;
    h.clients_target_met = c.target_met;
  }
  const s = out.call_setups;
  if (s) {
    h.call_setups_per_s = s.cycles_per_s;
    h.vs_echo_round_trips_per_s = s.ratio_cycles_to_echo_round_trips;
    h.setups_durable_verified = s.durable_verified;
    h.setups_target_met = s.target_met;
  }
  const l = out.latency;
  if (l) {
    h.place_to_incoming_p50_ms = l.place_to_incoming.p50_ms;
    h.place_to_incoming_p99_ms = l.place_to_incoming.p99_ms;
    h.vs_echo_p50 = l.ratio_p50;
    h.vs_echo_p99 = l.ratio_p99;
    h.latency_target_met = l.target_met;
  }
  for (const c of out.srtp?.cases ?? []) {
    if (c.payload_bytes !== 80) continue;
    const k = c.profile === 'AEAD_AES_128_GCM' ? 'gcm' : 'aes_cm';
    h[`srtp_${k}_80b_ns_nss`] = c.nss?.both_ns ?? null;
    h[`srtp_${k}_80b_ns_openssl`] = c.openssl?.both_ns ?? null;
  }
  if (out.srtp) h.srtp_linked = out.srtp.libsrtp2_linked_by_dcalld;
  const m = out.media;
  const top = m?.comparison?.[m.comparison.length - 1];
  if (top) {
    const r = m.relay.steps[m.relay.steps.length - 1];
    h.media_calls = top.calls;
    h.media_relay_cpu_us_per_call_s = top.relay_cpu_us_per_call_second;
    h.media_calls_per_core = r.calls_per_core;
    h.media_vs_udp_fwd_cpu = top.ratio_cpu;
    h.media_loss_pct = top.relay_loss_pct;
    h.media_one_way_p50_ms = top.relay_one_way_p50_ms;
    h.media_one_way_p99_ms = top.relay_one_way_p99_ms;
    h.media_vs_udp_fwd_p50 = top.ratio_p50;
    h.media_vs_udp_fwd_p99 = top.ratio_p99;
    h.media_target_met = m.target_met;
    h.media_windows_clean = top.both_windows_clean;
  }
  const st = out.stats;
  if (st?.rest) {
    h.stats_calls = st.calls;
    h.stats_30d_rest_hour_p50_ms = st.rest.hour.p50_ms;
    h.stats_30d_rest_hour_p99_ms = st.rest.hour.p99_ms;
    h.stats_30d_rest_day_p99_ms = st.rest.day.p99_ms;
    h.stats_30d_store_hour_p50_ms = st.store.stats_query_hour.p50_ms;
    h.stats_30d_scan_baseline_p50_ms = st.store.baseline_scan_same_figures.p50_ms;
    h.stats_vs_scan_p50 = st.ratio_scan_to_rollup_p50;
    h.stats_target_met = st.target_met;
  }
  const ka = out.keepalive && out.keepalive.by_sessions;
  if (ka) {
    for (const [n, r] of Object.entries(ka)) {
      h[`keepalive_${n}_idle_cpu_utilization`] = r.idle.dcalld_cpu_utilization;
      h[`keepalive_${n}_cpu_us_per_msg`] = r.load.dcalld_cpu_us_per_msg;
      if (r.load.perf) h[`keepalive_${n}_lws_dll2_add_sorted_pct`] = r.load.perf.lws_dll2_add_sorted_pct;
    }
  }
  return h;
}

async function setup(o, tmp) {
  const bin = path.resolve(o.build, 'bin', 'dcalld');
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found: build first (cmake --build ${o.build})`);
  const echoBin = P.buildEcho(HERE, tmp);
  const dataDir = path.join(tmp, 'data');
  const acct = JSON.parse(execFileSync(bin, ['account', 'create', '--data', dataDir, '--name', 'Bench Rides']).toString());
  const echo = await P.startServer([echoBin, '0'], { cpu: 0, re: /echo listening on (\d+)/, logFile: path.join(tmp, 'echo.log') });
  const dcalld = await P.startServer([bin, '--listen', '127.0.0.1:0', '--data', dataDir], {
    cpu: 0,
    re: /dcalld listening on (http:\/\/127\.0\.0\.1:(\d+))/,
    logFile: path.join(tmp, 'dcalld.log'),
  });
  const url = dcalld.match[1];
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${url}/healthz`).catch(() => null);
    if (res && res.status === 200) break;
    await P.sleep(100);
  }
  return { bin, dataDir, acct, echo, dcalld, url, wsUrl: `${url.replace('http', 'ws')}/v1/ws`, echoUrl: `ws://127.0.0.1:${echo.match[1]}/` };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!process.env.DCALL_BENCH_CHILD) return reexec();
  const started = Date.now();
  const out = {
    bench: 'dcall',
    headline: null,
    date: new Date().toISOString(),
    machine: P.machine(),
    generator: { pinned_cpu: process.env.DCALL_BENCH_CHILD === 'pinned' ? 1 : null, nofile_limit: P.nofileLimit() },
  };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dcall-bench-'));
  const finish = (code) => {
    out.headline = headline(out);
    out.total_seconds = round((Date.now() - started) / 1000, 1);
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    P.killChildren();
    if (!o.keep && code === 0) fs.rmSync(tmp, { recursive: true, force: true });
    else process.stderr.write(`bench: logs and data kept in ${tmp}\n`);
    process.exit(code);
  };
  const dog = setTimeout(() => {
    out.error = `watchdog: run exceeded ${WATCHDOG_S} s`;
    finish(1);
  }, (WATCHDOG_S + (!o.only || o.only === 'media' ? MEDIA_WATCHDOG_S : 0) + (!o.only || o.only === 'stats' ? STATS_WATCHDOG_S : 0) + (o.keepalive || o.only === 'keepalive' ? KEEPALIVE_WATCHDOG_S : 0)) * 1000);
  dog.unref();
  try {
    if (out.generator.nofile_limit < o.clients + 1000) {
      const n = Math.max(100, out.generator.nofile_limit - 1000);
      out.generator.note = `RLIMIT_NOFILE ${out.generator.nofile_limit}: clients lowered from ${o.clients} to ${n}`;
      o.clients = n;
    }
    if (o.only === 'srtp' || !o.only) {
      try {
        phaseSrtp(o, out);
      } catch (e) {
        out.srtp = { error: String(e.message || e) };
        if (o.only === 'srtp') throw e;
      }
    }
    if (o.only === 'srtp') return finish(0);
    if (o.only === 'stats') {
      await phaseStats(o, out, tmp);
      return finish(0);
    }
    if (o.only === 'media') {
      await phaseMedia(o, out, tmp);
      return finish(0);
    }
    if (o.keepalive || o.only === 'keepalive') {
      const most = Math.max(...o.keepaliveClients);
      if (out.generator.nofile_limit < most + 1000) throw new Error(`RLIMIT_NOFILE ${out.generator.nofile_limit}: too low for ${most} keepalive sessions`);
      try {
        await phaseKeepalive(o, out, tmp);
      } catch (e) {
        out.keepalive = { error: String(e.stack || e) };
        if (o.only === 'keepalive') throw e;
      }
      if (o.only === 'keepalive') return finish(0);
    }
    const ctx = await setup(o, tmp);
    out.dcalld = { pid: ctx.dcalld.pid, pinned_cpu: ctx.dcalld.pinned ? 0 : null, build: path.resolve(o.build) };
    const want = (p) => !o.only || o.only === p;
    if (want('held')) await phaseHeld(ctx, o, out);
    if (want('setups')) await phaseSetups(ctx, o, out);
    if (want('latency')) await phaseLatency(ctx, o, out);
    out.dcalld.rss_end_kb = P.rssKb(ctx.dcalld.pid);
    await P.stopServer(ctx.dcalld);
    await P.stopServer(ctx.echo);
    if (!o.only) {
      try {
        await phaseMedia(o, out, tmp);
      } catch (e) {
        out.media = { error: String(e.stack || e) };
      }
      try {
        await phaseStats(o, out, tmp);
      } catch (e) {
        out.stats = { error: String(e.stack || e) };
      }
    }
    finish(0);
  } catch (e) {
    out.error = String(e.stack || e);
    finish(1);
  }
}

main();
