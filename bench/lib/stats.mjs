// Phase "stats": the 30-day stats query over --stats-calls (1,000,000) call records in SQLite.
// bench/stats_bench.c (CMake target stats_bench) fills a fresh data dir through the schema's
// rollup triggers and times the store side against the calls-table scan (the old way); then a
// real dcalld on that data dir answers GET /v1/stats (hour and day) over loopback.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as P from './proc.mjs';

const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function pct(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  return { runs: ms.length, first_ms: round(ms[0], 3), p50_ms: round(at(0.5), 3), p99_ms: round(at(0.99), 3), min_ms: round(s[0], 3), max_ms: round(s[s.length - 1], 3) };
}

async function timeRest(url, acct, query, runs) {
  const auth = 'Basic ' + Buffer.from(`${acct.account_id}:${acct.api_secret}`).toString('base64');
  const ms = [];
  let body = null;
  // warms the client (fetch, its connection), not the server: the first timed run is dcalld's cold one
  for (let i = 0; i < 3; i++) await (await fetch(`${url}/healthz`)).text();
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const res = await fetch(`${url}/v1/stats?${query}`, { headers: { authorization: auth } });
    const text = await res.text();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (res.status !== 200) throw new Error(`GET /v1/stats -> ${res.status} ${text}`);
    body = JSON.parse(text);
  }
  return { ...pct(ms), response_bytes: Buffer.byteLength(JSON.stringify(body)), buckets: body.buckets.length, summary: body.summary };
}

export async function phaseStats(o, out, tmp) {
  P.log(`stats: building stats_bench, filling ${o.statsCalls} call records over 30 days`);
  execFileSync('cmake', ['--build', o.build, '--target', 'stats_bench'], { stdio: ['ignore', 2, 2] });
  const dcalld = path.resolve(o.build, 'bin', 'dcalld');
  const dataDir = path.join(tmp, 'stats-data');
  const create = (name) => JSON.parse(execFileSync(dcalld, ['account', 'create', '--data', dataDir, '--name', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
  const acct = create('Bench Stats');
  const other = create('Bench Other');
  const store = JSON.parse(
    execFileSync(
      path.resolve(o.build, 'bench', 'stats_bench'),
      ['--data', dataDir, '--account', acct.account_id, '--other', other.account_id, '--fill', String(o.statsCalls), '--days', '30', '--runs', String(o.statsRuns), '--baseline-runs', String(o.statsBaselineRuns)],
      { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 20 },
    ).toString(),
  );
  P.log(`stats: store side done (rollup ${store.stats_query_hour.p50_ms} ms p50, scan ${store.baseline_scan_same_figures.p50_ms} ms); REST against dcalld`);
  const srv = await P.startServer([dcalld, '--listen', '127.0.0.1:0', '--data', dataDir, '--no-media'], {
    cpu: 0,
    re: /dcalld listening on (http:\/\/127\.0\.0\.1:(\d+))/,
    logFile: path.join(tmp, 'dcalld-stats.log'),
  });
  const url = srv.match[1];
  // the range the store side timed: every filled record falls in it
  const to = new Date(store.range.to_ms).toISOString();
  const from = new Date(store.range.from_ms).toISOString();
  const rest = {};
  try {
    for (const g of ['hour', 'day']) rest[g] = await timeRest(url, acct, `from=${from}&to=${to}&granularity=${g}`, o.statsRuns);
  } finally {
    await P.stopServer(srv);
  }
  const db = fs.statSync(path.join(dataDir, 'dcall.db')).size;
  const worst = Math.max(rest.hour.p99_ms, rest.day.p99_ms, store.stats_query_hour.p99_ms, store.stats_query_day.p99_ms);
  out.stats = {
    calls: o.statsCalls,
    store,
    rest,
    db_file_mb: round(db / 1048576, 1),
    ratio_scan_to_rollup_p50: round(store.baseline_scan_same_figures.p50_ms / store.stats_query_hour.p50_ms, 1),
    ratio_old_query_to_rollup_p50: round(store.baseline_old_query_counts_only.p50_ms / store.stats_query_hour.p50_ms, 1),
    rest_total_matches: rest.hour.summary.total === store.check.calls_in_range && rest.day.summary.total === store.check.calls_in_range,
    target_met: worst < 100 && store.check.rollup_equals_scan,
  };
}
