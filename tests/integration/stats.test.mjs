// GET /v1/stats over the rollup table (docs/api.md, "Stats"): the summary (answer rate, average
// duration, MOS) and per-bucket total and mos_avg match the call records; a call counts once
// however often its ended record is written again; a changed record moves its figures; the
// rollup survives kill -9; a range that cuts 15-minute slots counts by creation time exactly.
import { before, after } from 'node:test';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Scope, itest, assert, rest, rawAnsweredCall, waitEnded, sleep } from './lib/index.mjs';

const S = new Scope();
const opt = { parent: S };
let srv;
let acct;
let other;

before(async () => {
  srv = await S.startServer({ ringTimeout: 30 });
  [acct, other] = await Promise.all([S.account(srv, 'Stats Co'), S.account(srv, 'Other Co')]);
});
after(() => S.cleanup());

const stats = async (q, a = acct) => {
  const r = await rest(srv, 'GET', `/v1/stats?${q}`, { auth: a });
  assert.equal(r.status, 200, r.text);
  return r.json;
};

// Writes to dcalld's SQLite file the way a second writer would (the rollup triggers live in the
// schema, so they run for it too): what a call with voice quality looks like without media.
function sql(statements) {
  execFileSync('sqlite3', ['-cmd', '.timeout 5000', path.join(srv.dataDir, 'dcall.db'), statements]);
}

const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;

itest(
  'summary and buckets match the records: answered, answer_rate, avg_duration_ms, MOS; once per call',
  async (h) => {
    const now = Date.now();
    const from = new Date(now - 4 * 3600e3).toISOString();
    const to = new Date(now + 3600e3).toISOString();
    const q = `from=${from}&to=${to}&granularity=hour`;
    const empty = await stats(q);
    assert.deepEqual(empty.summary, { total: 0, answered: 0, answer_rate: null, avg_duration_ms: null, mos_avg: null, mos_min: null, quality_calls: 0 });

    const ua = await h.user(srv, acct, 'sta');
    const a = await h.ws(srv, ua.token);
    const ids = [];
    for (const [kind, holdMs] of [['completed', 300], ['completed', 700], ['declined'], ['cancelled']]) {
      const ub = await h.user(srv, acct, 'stb');
      const b = await h.ws(srv, ub.token);
      if (kind === 'completed') {
        const id = await rawAnsweredCall(a, b, ub.cuid);
        await sleep(holdMs);
        a.send({ type: 'hangup', call_id: id });
        ids.push(id);
      } else {
        const o = await a.request({ type: 'place', client_call_id: `st-${kind}`, to: ub.cuid, context: 's' }, 'outgoing');
        await b.next('incoming', (m) => m.call_id === o.call_id);
        (kind === 'declined' ? b : a).send({ type: kind === 'declined' ? 'decline' : 'cancel', call_id: o.call_id });
        ids.push(o.call_id);
      }
      await a.next('ended', (m) => m.call_id === ids[ids.length - 1]);
    }
    const recs = [];
    for (const id of ids) recs.push(await waitEnded(srv, acct, id));
    assert.deepEqual(recs.map((r) => r.reason), ['completed', 'completed', 'declined', 'cancelled']);
    const durs = recs.filter((r) => r.answered_at).map((r) => r.duration_ms);

    let st = await stats(q);
    assert.equal(st.summary.total, 4);
    assert.equal(st.summary.answered, 2);
    assert.equal(st.summary.answer_rate, 0.5);
    assert.equal(st.summary.avg_duration_ms, Math.round((durs[0] + durs[1]) / 2), `avg of ${durs}`);
    assert.equal(st.summary.mos_avg, null, 'no quality reports without media');
    assert.equal(st.summary.quality_calls, 0);
    assert.deepEqual(st.totals, { completed: 2, declined: 1, missed: 0, cancelled: 1, busy: 0, unreachable: 0, network_loss: 0, failed: 0 });
    assert.equal(st.buckets.reduce((s, b) => s + b.total, 0), 4, 'bucket totals add up');
    for (const b of st.buckets) {
      const byReason = Object.keys(st.totals).reduce((s, k) => s + b[k], 0);
      assert.equal(b.total, byReason, `bucket ${b.start}: total is the sum of its reasons`);
      assert.equal(b.mos_avg, null);
    }
    assert.equal((await stats(q, other)).summary.total, 0, 'another account sees none of it');

    // Two ended calls with voice quality an hour ago, written straight into the store, then one
    // written again unchanged (counted once) and one changed (its figures move).
    const t = now - 3600e3;
    const row = (id, mosAvg, mosMin) =>
      `INSERT INTO calls (id, account_id, caller, callee, context, state, created_ms, answered_ms, ended_ms, reason, q_samples, mos_avg, mos_min)` +
      ` VALUES ('${id}', '${acct.account_id}', 'rider_1', 'driver_7', 'q', 'ended', ${t}, ${t + 1000}, ${t + 61000}, 'completed', 5, ${mosAvg}, ${mosMin});`;
    sql(row('c_q1', 4.1, 3.8) + row('c_q2', 3.5, 2.9));
    st = await stats(q);
    assert.equal(st.summary.total, 6);
    assert.equal(st.summary.answered, 4);
    assert.equal(st.summary.answer_rate, round(4 / 6, 4));
    assert.equal(st.summary.avg_duration_ms, Math.round((durs[0] + durs[1] + 120000) / 4));
    assert.equal(st.summary.quality_calls, 2);
    assert.equal(st.summary.mos_avg, 3.8);
    assert.equal(st.summary.mos_min, 2.9);
    const hourOf = (ms) => new Date(ms - (ms % 3600e3)).toISOString();
    const qb = st.buckets.find((b) => new Date(b.start).toISOString() === hourOf(t));
    assert.ok(qb, `a bucket for ${hourOf(t)}`);
    assert.equal(qb.total, 2);
    assert.equal(qb.mos_avg, 3.8);

    sql(`UPDATE calls SET state = 'ended' WHERE id = 'c_q1'; UPDATE calls SET mos_avg = 4.5, mos_min = 4.0 WHERE id = 'c_q2';`);
    st = await stats(q);
    assert.equal(st.summary.total, 6, 'rewritten unchanged: still counted once');
    assert.equal(st.summary.quality_calls, 2);
    assert.equal(st.summary.mos_avg, 4.3, 'the changed call moved its MOS');
    assert.equal(st.summary.mos_min, 3.8, 'the old minimum left with it');

    // durable: the rollup is written with the records
    await srv.kill9();
    await srv.restart();
    const again = await stats(q);
    assert.deepEqual(again.summary, st.summary, 'the same after kill -9 and a restart');

    // a range that cuts slots counts by creation time: from just after the quality calls
    const cut = await stats(`from=${new Date(t + 1).toISOString()}&to=${to}&granularity=hour`);
    assert.equal(cut.summary.total, 4);
    assert.equal(cut.summary.quality_calls, 0);
    const cut2 = await stats(`from=${new Date(t).toISOString()}&to=${new Date(t + 1).toISOString()}&granularity=hour`);
    assert.equal(cut2.summary.total, 2, 'a 1 ms range inside one slot');
  },
  { ...opt, timeout: 60000 },
);
