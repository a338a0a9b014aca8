// Issue 3 §4: the `dcall` CLI's contract: output format, exit codes, option placement, auth modes.
import { before, after } from 'node:test';
import {
  Scope,
  itest,
  assert,
  conn,
  endedOnce,
  exitsWith,
  offlineToken,
  closedPort,
  uniqCuid,
  waitEnded,
} from './lib/index.mjs';

const S = new Scope();
let srv;
let acct;
const opt = { parent: S };

before(async () => {
  srv = await S.startServer({ ringTimeout: 30 });
  acct = await S.account(srv);
});
after(() => S.cleanup());

// Every stdout line is one JSON object with event and ts_ms; ts_ms never goes backwards.
function assertJsonLines(cli) {
  assert.deepEqual(cli.badLines, [], `${cli.name}: every stdout line is JSON`);
  let prev = 0;
  for (const e of cli.events) {
    assert.equal(typeof e.event, 'string', 'event is a string');
    assert.equal(typeof e.ts_ms, 'number', 'ts_ms is a number');
    assert.ok(Math.abs(e.ts_ms - Date.now()) < 120000, 'ts_ms is Unix ms');
    assert.ok(e.ts_ms >= prev, 'ts_ms does not go backwards');
    prev = e.ts_ms;
  }
}

itest(
  'invalid input exits 2 after an error event: --cuid 91_8899555, --name ab, bad callee, long context',
  async (h) => {
    const u = await h.user(srv, acct, 'valid');
    const cases = [
      [[...conn(srv.url, u.token, '91_8899555'), 'listen'], 'invalid_cuid'],
      [[...conn(srv.url, u.token, u.cuid), '--name', 'ab', 'listen'], 'invalid_name'],
      [[...conn(srv.url, u.token, u.cuid), 'call', '91_8899555', '--context', 'x'], 'invalid_cuid'],
      [[...conn(srv.url, u.token, u.cuid), 'call', 'good_callee1', '--context', 'c'.repeat(65)], 'invalid_context'],
      [[...conn(srv.url, u.token, u.cuid), 'call', 'good_callee1', '--context', ''], 'invalid_context'],
    ];
    for (const [args, code] of cases) {
      const c = h.cli(args, { name: code });
      const ex = await c.exit(10000);
      assert.equal(ex.code, 2, `${code}: exit 2 (got ${JSON.stringify(ex)})`);
      const errs = c.all('error');
      assert.equal(errs.length, 1, `${code}: one error event`);
      assert.equal(errs[0].code, code);
      assert.equal(typeof errs[0].message, 'string');
      assertJsonLines(c);
    }
    const { calls } = await (await fetch(`${srv.url}/v1/calls?cuid=good_callee1`, {
      headers: { authorization: 'Basic ' + Buffer.from(`${acct.account_id}:${acct.api_secret}`).toString('base64') },
    })).json();
    assert.equal(calls.length, 0, 'invalid input placed nothing');
  },
  opt,
);

itest(
  'auth refused: a bad or expired token -> error event and exit 1',
  async (h) => {
    const cuid = uniqCuid('auth');
    const forged = offlineToken(acct, cuid, {}, 'sk_forged');
    const now = Math.floor(Date.now() / 1000);
    const expired = offlineToken(acct, cuid, { iat: now - 7200, exp: now - 3600 });
    for (const [token, code] of [
      [forged, 'invalid_token'],
      [expired, 'token_expired'],
      ['garbage', 'invalid_token'],
    ]) {
      const c = h.cli([...conn(srv.url, token, cuid), 'listen'], { name: code });
      const ex = await c.exit(15000);
      assert.equal(ex.code, 1, `${code}: exit 1 (got ${JSON.stringify(ex)})`);
      const err = c.all('error')[0];
      assert.ok(err, `${code}: an error event`);
      assert.equal(err.code, code);
      assert.equal(c.all('registered').length, 0);
      assert.ok(!c.stdout.includes(token) && !c.stderr.includes(token), 'the token is never printed');
    }
  },
  opt,
);

itest(
  'no server: exit 1 with a message on stderr',
  async (h) => {
    const port = await closedPort();
    const lonely = uniqCuid('lonely');
    const u = { cuid: lonely, token: offlineToken(acct, lonely) };
    for (const sub of [['listen'], ['call', 'someone_1', '--context', 'x']]) {
      const c = h.cli([...conn(`http://127.0.0.1:${port}`, u.token, u.cuid), ...sub], { name: `noserver-${sub[0]}` });
      const ex = await c.exit(30000);
      assert.equal(ex.code, 1, `exit 1 (got ${JSON.stringify(ex)})`);
      assert.ok(c.stderr.trim().length > 0, 'stderr says why');
      assert.match(c.stderr, /connect|refused|server|127\.0\.0\.1/i, `a clear message: ${c.stderr}`);
    }
  },
  opt,
);

itest(
  'options may come before or after the subcommand; ws:// server URL; decimal seconds',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const wsUrl = `ws://127.0.0.1:${srv.port}`;
    // All options after the subcommand, and a ws:// URL.
    const l = h.cli(['listen', '--answer-after', '0.5', '--exit-after-calls', '1', ...conn(wsUrl, bob.token, bob.cuid)], {
      name: 'listen-after',
    });
    await l.waitFor('registered');
    // Mixed: connection options split around the subcommand and its argument.
    const c = h.cli(
      ['--server', srv.url, 'call', bob.cuid, '--token', alice.token, '--context', 'mixed', '--cuid', alice.cuid, '--hangup-after', '0.4'],
      { name: 'call-mixed' },
    );
    const id = (await c.waitFor('outgoing')).call_id;
    await c.ended(id);
    await l.ended(id);
    const inc = await l.waitFor('incoming', (e) => e.call_id === id, 1);
    const ans = await l.waitFor('answered', (e) => e.call_id === id, 1);
    assert.ok(ans.ts_ms - inc.ts_ms >= 400, `--answer-after 0.5 from incoming (${ans.ts_ms - inc.ts_ms} ms)`);
    const ended = endedOnce(assert, c, id);
    assert.equal(ended.reason, 'completed');
    assert.ok(ended.duration_ms >= 350, `--hangup-after 0.4 from answered (${ended.duration_ms} ms)`);
    endedOnce(assert, l, id);
    assertJsonLines(c);
    assertJsonLines(l);
    const rec = await waitEnded(srv, acct, id);
    assert.equal(rec.context, 'mixed');
    await exitsWith(assert, 0, c, l);
  },
  opt,
);

itest(
  'every event line carries event, ts_ms, and call_id for call events; outgoing before ringing before answered',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const l = h.listen(srv, bob, ['--answer-after', '0.1', '--exit-after-calls', '1']);
    await l.waitFor('registered');
    const c = h.call(srv, alice, bob.cuid, ['--hangup-after', '0.1']);
    const id = (await c.waitFor('outgoing')).call_id;
    await c.ended(id);
    const names = c.events.map((e) => e.event);
    const order = ['registered', 'outgoing', 'ringing', 'answered', 'ended'];
    const idx = order.map((n) => names.indexOf(n));
    assert.ok(idx.every((i) => i >= 0), `caller events include ${order}: ${names}`);
    assert.deepEqual(idx, [...idx].sort((x, y) => x - y), `in order: ${names}`);
    for (const e of c.events.filter((x) => ['outgoing', 'ringing', 'answered', 'ended'].includes(x.event))) {
      assert.equal(typeof e.call_id, 'string', `${e.event} carries call_id`);
    }
    const ended = c.all('ended')[0];
    assert.ok('detail' in ended, 'ended carries detail');
    assert.ok('reason' in ended && 'duration_ms' in ended);
    await exitsWith(assert, 0, c, l);
  },
  opt,
);

itest(
  '--account/--api-secret: the CLI mints its own token and calls work',
  async (h) => {
    const bob = await h.user(srv, acct, 'bob');
    const cuid = uniqCuid('selfmint');
    const l = h.listen(srv, bob, ['--decline-after', '0.1', '--exit-after-calls', '1']);
    await l.waitFor('registered');
    const c = h.cli(
      ['--server', srv.url, '--account', acct.account_id, '--api-secret', acct.api_secret, '--cuid', cuid, '--name', 'Self Mint', 'call', bob.cuid, '--context', 'self'],
      { name: 'self-mint' },
    );
    const id = (await c.waitFor('outgoing')).call_id;
    await c.ended(id);
    assert.equal(endedOnce(assert, c, id).reason, 'declined');
    const rec = await waitEnded(srv, acct, id);
    assert.equal(rec.caller, cuid);
    assert.equal(rec.caller_name, 'Self Mint');
    assert.ok(!c.stdout.includes(acct.api_secret) && !c.stderr.includes(acct.api_secret), 'secret never printed');
    await exitsWith(assert, 0, c);
  },
  opt,
);

itest(
  '--exit-after-calls N: listen exits 0 after N calls, each ended once',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const l = h.listen(srv, bob, ['--decline-after', '0.05', '--exit-after-calls', '2']);
    await l.waitFor('registered');
    const ids = [];
    for (let i = 0; i < 2; i++) {
      const c = h.call(srv, alice, bob.cuid, [], { name: `call-${i}` });
      const id = (await c.waitFor('outgoing')).call_id;
      await c.ended(id);
      await l.ended(id);
      ids.push(id);
      await c.kill('SIGKILL'); // `call` exit codes are checked by the other tests
    }
    assert.equal((await l.exit()).code, 0);
    for (const id of ids) assert.equal(endedOnce(assert, l, id).reason, 'declined');
  },
  opt,
);
