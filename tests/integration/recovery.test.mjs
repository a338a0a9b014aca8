// Issue 3 §2/§3: kill -9 mid-call, restart on the same data dir: open calls are closed as
// failed/server_restart, nothing already recorded is lost, and /healthz answers 200 once recovery
// is done. Also: the data dir is locked against a second dcalld.
import { spawn } from 'node:child_process';
import path from 'node:path';
import {
  itest,
  assert,
  endedOnce,
  getCall,
  waitEnded,
  waitHealthy,
  listCalls,
  rest,
  assertServes,
  binDir,
  withTimeout,
} from './lib/index.mjs';

itest(
  'kill -9 mid-call: on restart open calls are failed/server_restart, completed ones intact',
  async (h) => {
    const srv = await h.startServer({ ringTimeout: 60 });
    const acct = await h.account(srv);
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const carol = await h.user(srv, acct, 'carol');
    const dave = await h.user(srv, acct, 'dave');

    // A call that completes before the crash.
    const l1 = h.listen(srv, bob, ['--answer-after', '0.1', '--exit-after-calls', '1'], { name: 'bob-1' });
    await l1.waitFor('registered');
    const c1 = h.call(srv, alice, bob.cuid, ['--hangup-after', '0.3'], { name: 'alice-1' });
    const id1 = (await c1.waitFor('outgoing')).call_id;
    await c1.ended(id1);
    endedOnce(assert, c1, id1);
    const done = await waitEnded(srv, acct, id1);
    assert.equal(done.reason, 'completed');

    // An answered call and a ringing call, live at the crash.
    const l2 = h.listen(srv, bob, ['--answer-after', '0.1'], { name: 'bob-2' });
    await l2.waitFor('registered');
    const c2 = h.call(srv, alice, bob.cuid, [], { name: 'alice-2' });
    const id2 = (await c2.waitFor('outgoing')).call_id;
    await c2.waitFor('answered', (e) => e.call_id === id2);
    const l3 = h.listen(srv, dave, ['--no-answer'], { name: 'dave' });
    await l3.waitFor('registered');
    const c3 = h.call(srv, carol, dave.cuid, [], { name: 'carol' });
    const id3 = (await c3.waitFor('outgoing')).call_id;
    await c3.waitFor('ringing', (e) => e.call_id === id3);
    assert.equal((await getCall(srv, acct, id2)).state, 'ongoing');
    assert.equal((await getCall(srv, acct, id3)).state, 'ringing');

    const killed = await srv.kill9();
    assert.equal(killed.signal, 'SIGKILL');
    await Promise.all([l2, c2, l3, c3].map((c) => c.kill('SIGKILL')));

    await srv.restart();
    await waitHealthy(srv, 15000);
    const r2 = await getCall(srv, acct, id2);
    const r3 = await getCall(srv, acct, id3);
    for (const r of [r2, r3]) {
      assert.equal(r.state, 'ended', `${r.id} closed by recovery`);
      assert.equal(r.reason, 'failed');
      assert.equal(r.detail, 'server_restart');
      assert.ok(r.ended_at, 'ended_at set');
    }
    const again = await getCall(srv, acct, id1);
    assert.deepEqual(again, done, 'the completed record is unchanged');
    const { calls } = await listCalls(srv, acct, `cuid=${alice.cuid}`);
    assert.deepEqual(calls.map((c) => c.id).sort(), [id1, id2].sort(), 'no record lost or added');
    assert.equal((await listCalls(srv, acct, 'status=failed')).calls.length, 2);

    // The account and its secret survived too, and the server works.
    await assertServes(h, srv, acct);
  },
  { timeout: 60000 },
);

itest(
  'the data dir is locked: a second dcalld on it refuses to start, the first keeps serving',
  async (h) => {
    const srv = await h.startServer();
    const p = spawn(path.join(binDir(), 'dcalld'), ['--listen', '127.0.0.1:0', '--data', srv.dataDir, '--test-mode'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const exit = await withTimeout(
      new Promise((r) => p.once('exit', (code) => r(code))),
      10000,
      'the second dcalld to give up',
    ).catch((e) => {
      p.kill('SIGKILL');
      throw e;
    });
    assert.notEqual(exit, 0, 'second dcalld exits non-zero');
    assert.doesNotMatch(out, /dcalld listening on/, 'it never listened');
    assert.match(out, /lock|data_dir_locked/i, `it says why: ${out}`);
    assert.equal((await rest(srv, 'GET', '/healthz')).status, 200, 'the first one still serves');
  },
  { timeout: 30000 },
);

itest(
  'SIGTERM with no live calls: the server drains and exits 0 promptly',
  async (h) => {
    const srv = await h.startServer();
    await waitHealthy(srv);
    const res = await srv.stop('SIGTERM', 15000);
    assert.equal(res.code, 0, `exit code 0 after drain (got ${JSON.stringify(res)})`);
  },
  { timeout: 30000 },
);
