// Issue 3 §3: every path a call can take, through two real `dcall` CLI processes (and raw ws for
// the races that a CLI cannot time precisely: glare, first-answer-wins, idempotent place).
import { before, after } from 'node:test';
import { Scope, itest, assert, endedOnce, exitsWith, getCall, waitEnded, listCalls, sleep } from './lib/index.mjs';

const S = new Scope();
let srv;
let acct;
const opt = { parent: S };

before(async () => {
  srv = await S.startServer({ ringTimeout: 2 });
  acct = await S.account(srv);
});
after(() => S.cleanup());

// Both CLIs report the same call; returns its id (from the caller's `outgoing`).
async function callIdOf(caller) {
  const out = await caller.waitFor('outgoing');
  assert.match(String(out.call_id), /^[A-Za-z0-9_-]{1,64}$/, 'outgoing carries the call id');
  return out.call_id;
}

itest(
  'answered then hung up: completed, duration > 0, one ended each side, ended last',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const callee = h.listen(srv, bob, ['--answer-after', '0.2', '--exit-after-calls', '1']);
    await callee.waitFor('registered');
    const caller = h.call(srv, alice, bob.cuid, ['--hangup-after', '0.6'], { context: 'Your driver for ride #4821' });
    const id = await callIdOf(caller);
    await caller.ended(id);
    await callee.ended(id);

    const inc = await callee.waitFor('incoming', (e) => e.call_id === id, 1);
    assert.ok(inc, 'callee got incoming for the call');
    await caller.waitFor('ringing', (e) => e.call_id === id, 1);
    await caller.waitFor('answered', (e) => e.call_id === id, 1);
    await callee.waitFor('answered', (e) => e.call_id === id, 1);
    const ec = endedOnce(assert, caller, id);
    const ee = endedOnce(assert, callee, id);
    for (const e of [ec, ee]) {
      assert.equal(e.reason, 'completed');
      assert.ok(e.duration_ms > 0, `duration_ms > 0 (got ${e.duration_ms})`);
    }
    // --hangup-after counts from `answered`
    assert.ok(ec.duration_ms >= 500, `caller hung up ~0.6 s after answer (duration ${ec.duration_ms})`);

    const rec = await waitEnded(srv, acct, id);
    assert.equal(rec.reason, 'completed');
    assert.equal(rec.caller, alice.cuid);
    assert.equal(rec.callee, bob.cuid);
    assert.equal(rec.context, 'Your driver for ride #4821');
    assert.equal(rec.ended_by, alice.cuid);
    assert.ok(rec.answered_at, 'answered_at set');
    assert.ok(rec.duration_ms > 0);
    assert.ok(Math.abs(rec.duration_ms - ec.duration_ms) < 1000, 'record and CLI agree on duration');
    // `call` exits 0 once its call ended; `listen --exit-after-calls 1` after one call.
    await exitsWith(assert, 0, caller, callee);
  },
  opt,
);

itest(
  'declined: caller gets declined then ended(declined); record says declined by the callee',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const callee = h.listen(srv, bob, ['--decline-after', '0.2', '--exit-after-calls', '1']);
    await callee.waitFor('registered');
    const caller = h.call(srv, alice, bob.cuid);
    const id = await callIdOf(caller);
    await caller.ended(id);
    await callee.ended(id);
    await caller.waitFor('declined', (e) => e.call_id === id, 1);
    assert.equal(caller.all('answered', id).length, 0, 'never answered');
    assert.equal(endedOnce(assert, caller, id).reason, 'declined');
    const ee = endedOnce(assert, callee, id);
    assert.equal(ee.reason, 'declined');
    assert.equal(ee.duration_ms, 0, 'unanswered call has duration 0');
    const rec = await waitEnded(srv, acct, id);
    assert.equal(rec.reason, 'declined');
    assert.equal(rec.ended_by, bob.cuid);
    assert.equal(rec.answered_at, null);
    await exitsWith(assert, 0, caller, callee);
  },
  opt,
);

itest(
  'missed: ring timeout (server --ring-timeout 2) -> missed for the caller, missed_call for the callee',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const callee = h.listen(srv, bob, ['--no-answer', '--exit-after-calls', '1']);
    await callee.waitFor('registered');
    const caller = h.call(srv, alice, bob.cuid);
    const id = await callIdOf(caller);
    const out = await caller.waitFor('outgoing');
    const missed = await caller.waitFor('missed', (e) => e.call_id === id, 10000);
    const waited = missed.ts_ms - out.ts_ms;
    assert.ok(waited >= 1500 && waited < 6000, `missed after ~2 s of ringing (got ${waited} ms)`);
    await caller.ended(id);
    await callee.ended(id);
    assert.equal(endedOnce(assert, caller, id).reason, 'missed');
    assert.equal(endedOnce(assert, callee, id).reason, 'missed');
    const mc = callee.all('missed_call', id);
    assert.equal(mc.length, 1, 'callee gets exactly one missed_call');
    assert.equal((await waitEnded(srv, acct, id)).reason, 'missed');
    await exitsWith(assert, 0, caller, callee);
  },
  opt,
);

itest(
  'cancelled: --cancel-after from ringing; callee sees cancelled; record cancelled by the caller',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const callee = h.listen(srv, bob, ['--no-answer', '--exit-after-calls', '1']);
    await callee.waitFor('registered');
    const caller = h.call(srv, alice, bob.cuid, ['--cancel-after', '0.3']);
    const id = await callIdOf(caller);
    await caller.ended(id);
    await callee.ended(id);
    const ringing = await caller.waitFor('ringing', (e) => e.call_id === id, 1);
    const ec = endedOnce(assert, caller, id);
    assert.equal(ec.reason, 'cancelled');
    assert.ok(ec.ts_ms - ringing.ts_ms >= 250, '--cancel-after counts from ringing');
    await callee.waitFor('cancelled', (e) => e.call_id === id, 1);
    assert.equal(endedOnce(assert, callee, id).reason, 'cancelled');
    assert.equal(callee.all('missed_call', id).length, 0, 'a cancelled call is not reported as missed');
    const rec = await waitEnded(srv, acct, id);
    assert.equal(rec.reason, 'cancelled');
    assert.equal(rec.ended_by, alice.cuid);
    await exitsWith(assert, 0, caller, callee);
  },
  opt,
);

itest(
  'busy: a call to a user already in a call ends busy; the first call goes on',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const carol = await h.user(srv, acct, 'carol');
    const callee = h.listen(srv, bob, ['--answer-after', '0.1']);
    await callee.waitFor('registered');
    const first = h.call(srv, alice, bob.cuid, [], { name: 'first' });
    const id1 = await callIdOf(first);
    await first.waitFor('answered', (e) => e.call_id === id1);

    const second = h.call(srv, carol, bob.cuid, [], { name: 'second' });
    const id2 = await callIdOf(second);
    assert.notEqual(id2, id1);
    await second.ended(id2);
    await second.waitFor('busy', (e) => e.call_id === id2, 1);
    assert.equal(endedOnce(assert, second, id2).reason, 'busy');
    assert.equal(callee.all('incoming', id2).length, 0, 'the busy callee is not rung');
    assert.equal((await waitEnded(srv, acct, id2)).reason, 'busy');

    const live = await getCall(srv, acct, id1);
    assert.equal(live.state, 'ongoing', 'the first call is still ongoing');
    assert.equal(first.all('ended', id1).length, 0);
    await exitsWith(assert, 0, second);
  },
  opt,
);

itest(
  'unreachable: callee offline; on its next sign-in it gets the stored missed_call exactly once',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const caller = h.call(srv, alice, bob.cuid, [], { context: 'Parcel at the gate' });
    const id = await callIdOf(caller);
    await caller.ended(id);
    await caller.waitFor('unreachable', (e) => e.call_id === id, 1);
    assert.equal(endedOnce(assert, caller, id).reason, 'unreachable');
    assert.equal((await waitEnded(srv, acct, id)).reason, 'unreachable');

    const l1 = h.listen(srv, bob, ['--no-answer'], { name: 'bob-first-login' });
    const mc = await l1.waitFor('missed_call', (e) => e.call_id === id, 8000);
    assert.ok(mc, 'stored missed_call delivered at sign-in');
    await sleep(500);
    assert.equal(l1.all('missed_call', id).length, 1, 'delivered once');
    await l1.kill('SIGTERM');

    const l2 = h.listen(srv, bob, ['--no-answer'], { name: 'bob-second-login' });
    await l2.waitFor('registered');
    await l2.waitFor('branding', () => true, 5000).catch(() => {});
    await sleep(800);
    assert.equal(l2.all('missed_call', id).length, 0, 'not delivered again on a later sign-in');
    await exitsWith(assert, 0, caller);
  },
  opt,
);

itest(
  'multi-device: both devices ring, the first answer wins, the other gets answered_elsewhere',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const d1 = h.listen(srv, bob, ['--answer-after', '0.3', '--exit-after-calls', '1'], { name: 'bob-d1' });
    const d2 = h.listen(srv, bob, ['--answer-after', '3', '--exit-after-calls', '1'], { name: 'bob-d2' });
    await d1.waitFor('registered');
    await d2.waitFor('registered');
    const caller = h.call(srv, alice, bob.cuid, ['--hangup-after', '0.5']);
    const id = await callIdOf(caller);
    await d1.waitFor('incoming', (e) => e.call_id === id);
    await d2.waitFor('incoming', (e) => e.call_id === id);
    await caller.ended(id);
    await d1.ended(id);
    await d2.ended(id);
    assert.equal(caller.all('answered', id).length, 1, 'caller sees one answer');
    assert.equal(d1.all('answered', id).length, 1, 'device 1 answered');
    assert.equal(d2.all('answered', id).length, 0, 'device 2 did not');
    assert.equal(d2.all('answered_elsewhere', id).length, 1, 'device 2 got answered_elsewhere');
    const e2 = endedOnce(assert, d2, id);
    assert.equal(e2.reason, 'completed');
    assert.equal(e2.detail, 'answered_elsewhere');
    assert.equal(endedOnce(assert, d1, id).reason, 'completed');
    assert.equal(endedOnce(assert, caller, id).reason, 'completed');
    await exitsWith(assert, 0, caller, d1, d2);
  },
  opt,
);

itest(
  'multi-device race over raw ws: two simultaneous answers, exactly one wins',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const a = await h.ws(srv, alice.token, { name: 'alice' });
    const b1 = await h.ws(srv, bob.token, { name: 'bob-1' });
    const b2 = await h.ws(srv, bob.token, { name: 'bob-2' });
    const out = await a.request({ type: 'place', client_call_id: 'race-1', to: bob.cuid, context: 'race' }, 'outgoing');
    assert.equal(out.type, 'outgoing');
    const id = out.call_id;
    await b1.next('incoming', (m) => m.call_id === id);
    await b2.next('incoming', (m) => m.call_id === id);
    b1.send({ type: 'answer', call_id: id });
    b2.send({ type: 'answer', call_id: id });
    await a.next('answered', (m) => m.call_id === id);
    const winner = await Promise.race([
      b1.next('answered', (m) => m.call_id === id).then(() => [b1, b2]),
      b2.next('answered', (m) => m.call_id === id).then(() => [b2, b1]),
    ]);
    const [win, lose] = winner;
    await lose.next('answered_elsewhere', (m) => m.call_id === id);
    const le = await lose.next('ended', (m) => m.call_id === id);
    assert.equal(le.reason, 'completed');
    assert.equal(le.detail, 'answered_elsewhere');
    await sleep(300);
    assert.equal(lose.all('answered', id).length, 0, 'the loser never gets answered');
    assert.equal(win.all('answered_elsewhere', id).length, 0);
    assert.equal(a.all('answered', id).length, 1, 'caller told once');
    a.send({ type: 'hangup', call_id: id });
    assert.equal((await win.next('ended', (m) => m.call_id === id)).reason, 'completed');
    assert.equal(lose.all('ended', id).length, 1, 'the loser gets ended once');
  },
  opt,
);

itest(
  'glare: two users call each other at once -> one call, both answered, one record',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const a = await h.ws(srv, alice.token, { name: 'alice' });
    const b = await h.ws(srv, bob.token, { name: 'bob' });
    a.send({ type: 'place', client_call_id: 'glare-a', to: bob.cuid, context: 'from alice', ref: 'pa' });
    b.send({ type: 'place', client_call_id: 'glare-b', to: alice.cuid, context: 'from bob', ref: 'pb' });
    const oa = await a.next('outgoing');
    const ob = await b.next('outgoing');
    assert.equal(oa.call_id, ob.call_id, 'both sides are told the same call id');
    const id = oa.call_id;
    await a.next('answered', (m) => m.call_id === id);
    await b.next('answered', (m) => m.call_id === id);
    assert.equal(a.all('error').length + b.all('error').length, 0, 'no errors');
    a.send({ type: 'hangup', call_id: id });
    assert.equal((await a.next('ended', (m) => m.call_id === id)).reason, 'completed');
    assert.equal((await b.next('ended', (m) => m.call_id === id)).reason, 'completed');
    for (const cuid of [alice.cuid, bob.cuid]) {
      const { calls } = await listCalls(srv, acct, `cuid=${cuid}`);
      assert.equal(calls.length, 1, `exactly one call record for ${cuid}`);
      assert.equal(calls[0].id, id);
      assert.equal(calls[0].reason, 'completed');
    }
    assert.equal((await fetch(srv.url + '/healthz')).status, 200, 'no crash');
  },
  opt,
);

itest(
  'glare with two CLI processes: each side ends exactly once, one completed record, no crash',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    // Each user keeps a listening device so that neither call is unreachable.
    const la = h.listen(srv, alice, ['--no-answer'], { name: 'alice-listen' });
    const lb = h.listen(srv, bob, ['--no-answer'], { name: 'bob-listen' });
    await la.waitFor('registered');
    await lb.waitFor('registered');
    const ca = h.call(srv, alice, bob.cuid, ['--hangup-after', '0.5'], { name: 'alice-call' });
    // Only alice hangs up early: two hangups in the same millisecond would race by design.
    const cb = h.call(srv, bob, alice.cuid, ['--hangup-after', '5'], { name: 'bob-call' });
    const ida = (await ca.waitFor('outgoing')).call_id;
    const idb = (await cb.waitFor('outgoing')).call_id;
    await ca.ended(ida);
    await cb.ended(idb);
    endedOnce(assert, ca, ida);
    endedOnce(assert, cb, idb);
    const { calls } = await listCalls(srv, acct, `cuid=${alice.cuid}`);
    const between = calls.filter((c) => [c.caller, c.callee].sort().join() === [alice.cuid, bob.cuid].sort().join());
    // Either the two places raced into glare (one call) or the second found the first ringing and
    // was answered on its behalf; never two live calls between the same pair.
    assert.ok(between.length >= 1);
    assert.ok(between.every((c) => c.state === 'ended'), 'every record between them is ended');
    if (ida === idb) {
      assert.equal(between.length, 1, 'glare resolved to one record');
      assert.equal(between[0].reason, 'completed');
    }
    assert.equal((await fetch(srv.url + '/healthz')).status, 200, 'no crash');
    await exitsWith(assert, 0, ca, cb);
  },
  opt,
);

itest(
  'idempotent place: the same client_call_id gets the same call id and one record',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const a = await h.ws(srv, alice.token, { name: 'alice' });
    const b = await h.ws(srv, bob.token, { name: 'bob' });
    const place = { type: 'place', client_call_id: 'retry-42', to: bob.cuid, context: 'retry' };
    const o1 = await a.request(place, 'outgoing');
    assert.equal(o1.type, 'outgoing');
    assert.equal(o1.client_call_id, 'retry-42');
    const o2 = await a.request(place, 'outgoing');
    assert.equal(o2.type, 'outgoing', `retry answered with outgoing, got ${JSON.stringify(o2)}`);
    assert.equal(o2.call_id, o1.call_id, 'same call id');
    await b.next('incoming', (m) => m.call_id === o1.call_id);
    await sleep(300);
    assert.equal(b.all('incoming').length, 1, 'callee rung once');
    const { calls } = await listCalls(srv, acct, `cuid=${alice.cuid}`);
    assert.equal(calls.length, 1, 'one record');
    a.send({ type: 'cancel', call_id: o1.call_id });
    assert.equal((await b.next('ended', (m) => m.call_id === o1.call_id)).reason, 'cancelled');
    // After the call ended, the same id still places nothing new.
    const o3 = await a.request(place, 'outgoing');
    assert.equal(o3.call_id, o1.call_id);
    assert.equal((await listCalls(srv, acct, `cuid=${alice.cuid}`)).calls.length, 1);
  },
  opt,
);

itest(
  'one call per user over raw ws: a callee with a call ringing is busy; placing while in a call -> already_in_call',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const carol = await h.user(srv, acct, 'carol');
    const a = await h.ws(srv, alice.token, { name: 'alice' });
    const b = await h.ws(srv, bob.token, { name: 'bob' });
    const c = await h.ws(srv, carol.token, { name: 'carol' });
    const o1 = await a.request({ type: 'place', client_call_id: 'one-1', to: bob.cuid, context: 'first' }, 'outgoing');
    await b.next('incoming', (m) => m.call_id === o1.call_id);
    const o2 = await c.request({ type: 'place', client_call_id: 'one-2', to: bob.cuid, context: 'second' }, 'outgoing');
    assert.equal(o2.type, 'outgoing');
    await c.next('busy', (m) => m.call_id === o2.call_id);
    assert.equal((await c.next('ended', (m) => m.call_id === o2.call_id)).reason, 'busy');
    assert.equal(b.all('incoming', o2.call_id).length, 0, 'bob is not rung twice');
    const again = await a.request({ type: 'place', client_call_id: 'one-3', to: carol.cuid, context: 'again' }, 'outgoing');
    assert.equal(again.type, 'error');
    assert.equal(again.code, 'already_in_call');
    assert.equal(c.all('incoming').length, 0, 'nothing rang carol');
    a.send({ type: 'cancel', call_id: o1.call_id });
    assert.equal((await b.next('ended', (m) => m.call_id === o1.call_id)).reason, 'cancelled');
  },
  opt,
);
