// Issue 3 §3 webhooks, with real processes: a real HTTP receiver on loopback gets signed JSON for
// every call event; failed deliveries are retried with exponential backoff (driven by the test
// clock of dcalld --test-mode), given up after 24 h, and kept across a kill -9.
import { itest, assert, rest, getCall, waitEnded, waitUntil, sleep, rawAnsweredCall } from './lib/index.mjs';
import { WebhookReceiver, signatureValid, setWebhook, putSettings, webhookLog, advanceClock } from './lib/webhook.mjs';

const ALL_EVENTS = ['call.placed', 'call.ringing', 'call.answered', 'call.ended'];
const SEC = 1000;
const HOUR = 3600 * SEC;

// Starts a receiver whose requests show up in the test's failure diagnostics.
async function receiver(h, opts, port) {
  const r = await WebhookReceiver.start(opts, port);
  const diag = h.diagnostics.bind(h);
  h.diagnostics = () => `${diag()}\n${r.describe()}`;
  const clean = h.cleanup.bind(h);
  h.cleanup = async () => {
    await r.close();
    await clean();
  };
  return r;
}

// A call from a fresh user to a cuid nobody is signed in as: it ends at once as `unreachable`.
async function unreachableCall(h, srv, acct) {
  const a = await h.user(srv, acct, 'rider');
  const ws = await h.ws(srv, a.token, { name: `ws:${a.cuid}` });
  const out = await ws.request({ type: 'place', client_call_id: `cc-${Date.now()}`, to: 'nobody_home', context: 'ctx' }, 'outgoing');
  assert.equal(out.type, 'outgoing', `place refused: ${JSON.stringify(out)}`);
  const ended = await ws.next('ended', (m) => m.call_id === out.call_id);
  assert.equal(ended.reason, 'unreachable');
  return out.call_id;
}

const forCall = (reqs, id) => reqs.filter((r) => r.json && r.json.call && r.json.call.id === id);

itest('signed webhooks for placed, ringing, answered, ended; event filter; secret shown once', async (h) => {
  const srv = await h.startServer();
  const acct = await h.account(srv);
  const rx = await receiver(h);

  const put = await setWebhook(srv, acct, rx.url, []);
  const secret = put.webhook_secret;
  assert.match(String(secret), /\S{16,}/, 'the first PUT with a webhook_url shows the secret');
  assert.equal(put.webhook_url, rx.url);
  assert.deepEqual(put.webhook_events, []);
  const got = await rest(srv, 'GET', '/v1/settings', { auth: acct });
  assert.equal(got.status, 200);
  assert.equal(got.json.webhook_url, rx.url);
  assert.ok(!('webhook_secret' in got.json), 'GET /v1/settings has no webhook_secret');
  assert.ok(!got.text.includes(secret), 'GET /v1/settings never carries the secret');

  const ua = await h.user(srv, acct, 'rider');
  const ub = await h.user(srv, acct, 'driver');
  const a = await h.ws(srv, ua.token, { name: 'rider' });
  const b = await h.ws(srv, ub.token, { name: 'driver' });
  const id = await rawAnsweredCall(a, b, ub.cuid, 'Your driver for ride #4821');
  a.send({ type: 'hangup', call_id: id });
  await a.next('ended', (m) => m.call_id === id);
  const rec = await waitEnded(srv, acct, id);

  await rx.waitFor((reqs) => forCall(reqs, id).some((r) => r.json.type === 'call.ended'), 'call.ended webhook');
  await sleep(300); // nothing else may follow
  const reqs = forCall(rx.requests, id);
  assert.deepEqual(
    reqs.map((r) => r.json.type),
    ALL_EVENTS,
    'each event once, in order',
  );
  for (const r of reqs) {
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/hooks/dcall');
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.match(r.headers['x-dcall-timestamp'], /^\d+$/);
    const skew = Math.abs(Number(r.headers['x-dcall-timestamp']) - r.at / 1000);
    assert.ok(skew < 60, `X-Dcall-Timestamp is the current Unix time in seconds (skew ${skew} s)`);
    assert.match(r.headers['x-dcall-signature'], /^v1=[0-9a-f]{64}$/);
    assert.ok(signatureValid(secret, r), `${r.json.type}: X-Dcall-Signature verifies over "<ts>.<raw body>"`);
    assert.ok(!signatureValid(secret + 'x', r), 'a wrong secret does not verify');
    assert.match(r.json.id, /^evt_/);
    assert.equal(r.json.account_id, acct.account_id);
    assert.ok(!Number.isNaN(Date.parse(r.json.created_at)), 'created_at is a date');
    for (const k of ['id', 'client_call_id', 'caller', 'callee', 'context', 'created_at']) {
      assert.equal(r.json.call[k], rec[k], `${r.json.type}: call.${k} matches GET /v1/calls/{id}`);
    }
  }
  assert.equal(new Set(reqs.map((r) => r.json.id)).size, 4, 'distinct event ids');
  const byType = Object.fromEntries(reqs.map((r) => [r.json.type, r.json.call]));
  assert.equal(byType['call.placed'].state, 'ringing');
  assert.equal(byType['call.answered'].state, 'ongoing');
  assert.ok(byType['call.answered'].answered_at, 'call.answered carries answered_at');
  assert.deepEqual(byType['call.ended'], rec, 'call.ended carries the final record, as GET /v1/calls/{id}');
  assert.equal(byType['call.ended'].reason, 'completed');

  const log = await waitUntil(
    async () => {
      const l = await webhookLog(srv, acct);
      return l.length === 4 && l.every((d) => d.state !== 'pending') ? l : null;
    },
    { what: '4 deliveries settled in the log' },
  );
  for (const d of log) {
    assert.equal(d.state, 'done');
    assert.equal(d.attempts, 1);
    assert.equal(d.http_status, 200);
    assert.equal(d.url, rx.url);
    assert.ok(d.delivered_at, 'delivered_at set');
  }
  assert.deepEqual(log.map((d) => d.event).reverse(), ALL_EVENTS, 'the log lists the events, newest first');

  // Subscribe to call.ended only: the next call sends just that one.
  const put2 = await putSettings(srv, acct, { webhook_events: ['call.ended'] });
  assert.equal(put2.status, 200);
  assert.deepEqual(put2.json.webhook_events, ['call.ended']);
  assert.ok(!('webhook_secret' in put2.json), 'the secret is not shown again');
  assert.ok(!put2.text.includes(secret));
  const id2 = await rawAnsweredCall(a, b, ub.cuid, 'second');
  b.send({ type: 'hangup', call_id: id2 });
  await b.next('ended', (m) => m.call_id === id2);
  const rec2 = await waitEnded(srv, acct, id2);
  await rx.waitFor((all) => forCall(all, id2).length > 0, 'call.ended for the second call');
  await sleep(300);
  const reqs2 = forCall(rx.requests, id2);
  assert.deepEqual(
    reqs2.map((r) => r.json.type),
    ['call.ended'],
    'only call.ended arrives',
  );
  assert.ok(signatureValid(secret, reqs2[0]), 'same secret still signs');
  assert.deepEqual(reqs2[0].json.call, rec2);
  assert.equal((await webhookLog(srv, acct)).length, 5, 'filtered events are not even queued');

  // Rotation shows a new secret once, and deliveries are signed with it.
  const rot = await putSettings(srv, acct, { rotate_webhook_secret: true });
  assert.equal(rot.status, 200);
  const secret2 = rot.json.webhook_secret;
  assert.ok(secret2 && secret2 !== secret, 'rotation shows a new secret');
  const id3 = await unreachableCall(h, srv, acct);
  await rx.waitFor((all) => forCall(all, id3).length > 0, 'call.ended for the third call');
  const r3 = forCall(rx.requests, id3)[0];
  assert.ok(signatureValid(secret2, r3), 'signed with the rotated secret');
  assert.ok(!signatureValid(secret, r3), 'not with the old one');

  assert.ok(!srv.log.includes(secret) && !srv.log.includes(secret2), 'dcalld never logs the webhook secret');
});

itest('a failed delivery is retried with backoff (5 s, then 10 s) and then succeeds', async (h) => {
  const srv = await h.startServer();
  const acct = await h.account(srv);
  const rx = await receiver(h, { respond: (req, n) => (n <= 2 ? 500 : 204) });
  const { webhook_secret: secret } = await setWebhook(srv, acct, rx.url, ['call.ended']);
  const id = await unreachableCall(h, srv, acct);
  const only = async () => {
    const log = await webhookLog(srv, acct);
    assert.equal(log.length, 1, `one delivery in the log: ${JSON.stringify(log)}`);
    return log[0];
  };

  // Attempt 1 at once, answered 500.
  await rx.waitFor((r) => r.length === 1, 'first attempt');
  let d = await waitUntil(async () => ((await only()).attempts === 1 ? only() : null), { what: 'attempt 1 logged' });
  assert.equal(d.state, 'pending');
  assert.equal(d.event, 'call.ended');
  assert.match(String(d.last_error), /500/, 'last_error names the HTTP status');
  await sleep(800);
  assert.equal(rx.requests.length, 1, 'no retry before the backoff is due');

  // 5 s later (server clock): attempt 2, answered 500.
  await advanceClock(srv, 5 * SEC);
  await rx.waitFor((r) => r.length === 2, 'second attempt after 5 s');
  d = await waitUntil(async () => ((await only()).attempts === 2 ? only() : null), { what: 'attempt 2 logged' });
  assert.equal(d.state, 'pending');

  // The backoff doubled: 5 s more is not enough, 10 s is.
  await advanceClock(srv, 5 * SEC);
  await sleep(800);
  assert.equal(rx.requests.length, 2, 'no third attempt 5 s after the second (backoff is now 10 s)');
  await advanceClock(srv, 5 * SEC);
  await rx.waitFor((r) => r.length === 3, 'third attempt 10 s after the second');
  d = await waitUntil(async () => ((await only()).state === 'done' ? only() : null), { what: 'delivery done' });
  assert.equal(d.attempts, 3, 'three attempts counted');
  assert.equal(d.http_status, 204);
  assert.ok(d.delivered_at, 'delivered_at set');

  // Every attempt carried the same event, each freshly signed with its own timestamp.
  const ids = rx.requests.map((r) => r.json.id);
  assert.equal(new Set(ids).size, 1, 'retries resend the same event id');
  assert.ok(rx.requests.every((r) => r.raw === rx.requests[0].raw), 'the same body each time');
  for (const r of rx.requests) assert.ok(signatureValid(secret, r), 'each attempt is signed');
  const ts = rx.requests.map((r) => Number(r.headers['x-dcall-timestamp']));
  assert.ok(ts[1] - ts[0] >= 5 && ts[2] - ts[1] >= 10, `timestamps follow the server clock: ${ts}`);

  await advanceClock(srv, 2 * HOUR);
  await sleep(800);
  assert.equal(rx.requests.length, 3, 'nothing is sent after success');
});

itest(
  'a delivery that keeps failing is retried at most 1 h apart and given up after 24 h',
  async (h) => {
    const srv = await h.startServer();
    const acct = await h.account(srv);
    const rx = await receiver(h, { respond: () => 500 });
    await setWebhook(srv, acct, rx.url, ['call.ended']);
    await unreachableCall(h, srv, acct);
    await rx.waitFor((r) => r.length === 1, 'first attempt');
    const logged = (pred, what) =>
      waitUntil(
        async () => {
          const [d] = await webhookLog(srv, acct);
          return pred(d) ? d : null;
        },
        { what, intervalMs: 20 },
      );
    let d = await logged((x) => x.attempts === 1, 'attempt 1 logged');

    // Step the clock 1 h at a time: the backoff is capped at 1 h, so each step brings exactly
    // one more attempt until 24 h have passed since the event was created.
    let advanced = 0;
    while (d.state === 'pending') {
      assert.ok(advanced < 26 * HOUR, `still pending after ${advanced / HOUR} h`);
      const before = rx.requests.length;
      await advanceClock(srv, HOUR);
      advanced += HOUR;
      await rx.waitFor((r) => r.length === before + 1, `one attempt after +${advanced / HOUR} h`);
      d = await logged((x) => x.state !== 'pending' || x.attempts === before + 1, `attempt ${before + 1} logged`);
      if (advanced < 24 * HOUR) assert.equal(d.state, 'pending', `not given up before 24 h (+${advanced / HOUR} h)`);
    }
    assert.equal(d.state, 'failed', 'given up');
    assert.ok(advanced >= 24 * HOUR, `given up only after 24 h (at +${advanced / HOUR} h)`);
    assert.ok(advanced <= 25 * HOUR, `given up within an hour of the 24 h mark (at +${advanced / HOUR} h)`);
    assert.match(String(d.last_error), /500/);
    assert.equal(d.attempts, rx.requests.length, 'the log counts every attempt made');
    assert.equal(d.delivered_at, null);

    const n = rx.requests.length;
    await advanceClock(srv, 3 * HOUR);
    await sleep(800);
    assert.equal(rx.requests.length, n, 'no attempt after giving up');
  },
  { timeout: 60000 },
);

itest(
  'pending webhooks survive kill -9 and are delivered exactly once after restart',
  async (h) => {
    const srv = await h.startServer();
    const acct = await h.account(srv);
    const rx = await receiver(h);
    const port = rx.port;
    const { webhook_secret: secret } = await setWebhook(srv, acct, rx.url, []);
    await rx.close(); // the receiver is down: deliveries fail to connect

    // A completed call (4 events) and a call still ringing at the crash.
    const ua = await h.user(srv, acct, 'rider');
    const ub = await h.user(srv, acct, 'driver');
    const uc = await h.user(srv, acct, 'carol');
    const ud = await h.user(srv, acct, 'dave');
    const a = await h.ws(srv, ua.token, { name: 'rider' });
    const b = await h.ws(srv, ub.token, { name: 'driver' });
    const id = await rawAnsweredCall(a, b, ub.cuid);
    a.send({ type: 'hangup', call_id: id });
    await a.next('ended', (m) => m.call_id === id);
    const c = await h.ws(srv, uc.token, { name: 'carol' });
    const dv = await h.ws(srv, ud.token, { name: 'dave' });
    const out = await c.request({ type: 'place', client_call_id: 'cc-ringing', to: ud.cuid, context: 'ctx' }, 'outgoing');
    const ringingId = out.call_id;
    await dv.next('incoming', (m) => m.call_id === ringingId);
    dv.send({ type: 'ringing', call_id: ringingId });
    await c.next('ringing', (m) => m.call_id === ringingId);

    // Every item has been tried once and failed.
    const log0 = await waitUntil(
      async () => {
        const log = await webhookLog(srv, acct);
        return log.length === 6 && log.every((d) => d.attempts >= 1) ? log : null;
      },
      { what: '6 deliveries each tried once' },
    );
    for (const d of log0) assert.equal(d.state, 'pending');
    assert.equal(rx.requests.length, 0);

    assert.equal((await srv.kill9()).signal, 'SIGKILL');
    for (const w of [a, b, c, dv]) w.close();
    await rx.listen(port); // the receiver is back, at the same URL
    await srv.restart();
    await waitUntil(async () => (await rest(srv, 'GET', '/healthz')).status === 200, { what: 'healthz', timeoutMs: 15000 });
    // The restarted server's clock starts without the test offset; the retries are 5 s out.
    await advanceClock(srv, 10 * SEC);

    // 4 events of the completed call, placed+ringing of the other, and its call.ended written by
    // recovery (failed/server_restart).
    const done = await waitUntil(
      async () => {
        const log = await webhookLog(srv, acct);
        return log.length === 7 && log.every((d) => d.state === 'done') ? log : null;
      },
      { what: 'all 7 deliveries done', timeoutMs: 10000 },
    );
    await advanceClock(srv, 2 * HOUR);
    await sleep(1000);

    const evIds = rx.requests.map((r) => r.json && r.json.id);
    assert.equal(rx.requests.length, 7, `7 requests: ${evIds}`);
    assert.equal(new Set(evIds).size, 7, 'each event delivered exactly once');
    for (const r of rx.requests) assert.ok(signatureValid(secret, r), 'signed with the secret kept across restart');
    // Order across retries is not promised (recovery's fresh call.ended is due before the old
    // items' backoff), so compare the sets of events.
    const types = (cid) => forCall(rx.requests, cid).map((r) => r.json.type).sort();
    const ended = (cid) => forCall(rx.requests, cid).find((r) => r.json.type === 'call.ended').json.call;
    assert.deepEqual(types(id), [...ALL_EVENTS].sort());
    assert.deepEqual(types(ringingId), ['call.ended', 'call.placed', 'call.ringing']);
    assert.deepEqual(ended(id), await getCall(srv, acct, id));
    const failed = await getCall(srv, acct, ringingId);
    assert.equal(failed.reason, 'failed');
    assert.equal(failed.detail, 'server_restart');
    assert.deepEqual(ended(ringingId), failed, "recovery's call.ended carries the closed record");
    for (const d of done) assert.equal(d.http_status, 200);
    const firstSix = done.filter((d) => log0.some((x) => x.id === d.id));
    assert.equal(firstSix.length, 6, 'the pre-crash items are the ones delivered');
    for (const d of firstSix) assert.ok(d.attempts >= 2, 'failed before the crash, delivered after');
  },
  { timeout: 60000 },
);
