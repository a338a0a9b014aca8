// Issue 3 §3: a party that loses its connection keeps the call for the reconnect grace, resumes its
// session, and gets the events it missed exactly once; past the grace the call ends network_loss.
// Network drops are simulated with a TCP proxy that resets its connections, not by killing anyone.
import { before, after } from 'node:test';
import { Scope, itest, assert, endedOnce, exitsWith, getCall, waitEnded, sleep, WsClient, rest } from './lib/index.mjs';

const S = new Scope();
let srv; // default grace (20 s): resumes happen well inside it
let short; // --reconnect-grace 2: for "past the grace"
let acct;
let acctShort;
const opt = { parent: S, timeout: 60000 };

before(async () => {
  [srv, short] = await Promise.all([S.startServer({ ringTimeout: 30 }), S.startServer({ ringTimeout: 30, grace: 2 })]);
  [acct, acctShort] = await Promise.all([S.account(srv), S.account(short)]);
});
after(() => S.cleanup());

itest(
  'CLI caller dropped mid-call: both see reconnecting/reconnected, the call goes on and completes',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const proxy = await h.proxy(srv.port);
    const callee = h.listen(srv, bob, ['--answer-after', '0.1', '--exit-after-calls', '1']);
    await callee.waitFor('registered');
    const caller = h.call(srv, alice, bob.cuid, ['--hangup-after', '5'], { url: proxy.url });
    const id = (await caller.waitFor('outgoing')).call_id;
    await caller.waitFor('answered', (e) => e.call_id === id);
    assert.ok(proxy.live >= 1, 'the caller talks through the proxy');
    const acceptedBefore = proxy.accepted;

    proxy.dropAll();
    const rc = await callee.waitFor('reconnecting', (e) => e.call_id === id, 5000);
    assert.equal(rc.who ?? 'peer', 'peer');
    await caller.waitFor('reconnecting', () => true, 5000);
    await caller.waitFor('reconnected', () => true, 8000);
    await callee.waitFor('reconnected', (e) => e.call_id === id, 8000);
    assert.ok(proxy.accepted > acceptedBefore, 'the CLI reconnected by itself');
    assert.equal((await getCall(srv, acct, id)).state, 'ongoing', 'the call survived the drop');

    await caller.ended(id);
    await callee.ended(id);
    assert.equal(caller.all('answered', id).length, 1, 'answered not replayed twice');
    assert.equal(caller.all('outgoing', id).length, 1, 'outgoing not replayed twice');
    const ec = endedOnce(assert, caller, id);
    const ee = endedOnce(assert, callee, id);
    assert.equal(ec.reason, 'completed');
    assert.equal(ee.reason, 'completed');
    assert.ok(ec.duration_ms >= 4500, `the call went on after the drop (duration ${ec.duration_ms})`);
    assert.equal((await waitEnded(srv, acct, id)).reason, 'completed');
    await exitsWith(assert, 0, caller, callee);
  },
  opt,
);

itest(
  'raw ws resume: same session, seq continues, missed events replayed in order exactly once',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const bob = await h.user(srv, acct, 'bob');
    const a = await h.ws(srv, alice.token, { name: 'alice-1' });
    const b = await h.ws(srv, bob.token, { name: 'bob' });
    const reg = a.registered;
    assert.equal(reg.resumed, false);
    assert.ok(reg.session_id && reg.resume_secret, 'registered carries session_id and resume_secret');
    const out = await a.request({ type: 'place', client_call_id: 'rs-1', to: bob.cuid, context: 'resume' }, 'outgoing');
    const id = out.call_id;
    await b.next('incoming', (m) => m.call_id === id);
    b.send({ type: 'answer', call_id: id });
    await a.next('answered', (m) => m.call_id === id);
    await sleep(200);
    const lastSeq = a.maxSeq();

    a.drop();
    const rc = await b.next('reconnecting', (m) => m.call_id === id, 5000);
    assert.equal(rc.who, 'peer');
    // An event for alice while she is away: a branding change reaches every session of the account.
    const put = await rest(srv, 'PUT', '/v1/branding', { auth: acct, body: { background_color: '#102030' } });
    assert.equal(put.status, 200, put.text);
    await sleep(300);

    const a2 = await WsClient.connect(srv.wsUrl, { name: 'alice-2' });
    h.wss.push(a2);
    const reg2 = await a2.hello({ token: alice.token, resume: { session_id: reg.session_id, secret: reg.resume_secret, last_seq: lastSeq } });
    assert.equal(reg2.resumed, true, 'session resumed');
    assert.equal(reg2.session_id, reg.session_id, 'same session id');
    const br = await a2.next('branding', (m) => m.branding?.background_color === '#102030', 3000);
    assert.ok(br.seq > lastSeq, 'replayed event continues the sequence');
    await b.next('reconnected', (m) => m.call_id === id, 5000);
    assert.equal((await getCall(srv, acct, id)).state, 'ongoing');

    b.send({ type: 'hangup', call_id: id });
    assert.equal((await a2.next('ended', (m) => m.call_id === id)).reason, 'completed');
    await sleep(300);

    // Sequence numbers across both sockets: 1..n, none missing, none twice.
    // The resumed `registered` reply is not an event of the session (it is not replayable), so it
    // is left out; every other message but pong is sequenced.
    const seqd = [...a.msgs, ...a2.msgs].filter((m) => m.type !== 'pong' && !(m.type === 'registered' && m.resumed));
    const noSeq = seqd.filter((m) => !Number.isInteger(m.seq));
    assert.deepEqual(noSeq, [], 'every message but pong carries seq');
    const seqs = seqd.map((m) => m.seq);
    const sorted = [...seqs].sort((x, y) => x - y);
    assert.deepEqual(sorted, Array.from({ length: sorted.length }, (_, i) => i + 1), `seqs contiguous and unique: ${seqs}`);
    const after2 = a2.msgs.filter((m) => m.type !== 'registered' && m.type !== 'pong').map((m) => m.seq);
    assert.deepEqual(after2, [...after2].sort((x, y) => x - y), 'replay and live events in order');
    assert.equal([...a.msgs, ...a2.msgs].filter((m) => m.type === 'answered' && m.call_id === id).length, 1);
    assert.equal(a2.all('ended', id).length, 1, 'ended exactly once');
  },
  opt,
);

itest(
  'raw ws resume with an older last_seq replays exactly the events after it',
  async (h) => {
    const alice = await h.user(srv, acct, 'alice');
    const a = await h.ws(srv, alice.token, { name: 'alice-1' });
    const reg = a.registered;
    await a.next('branding');
    // Two branding pushes give alice two known events.
    for (const c of ['#AA0001', '#AA0002']) {
      const r = await rest(srv, 'PUT', '/v1/branding', { auth: acct, body: { text_color: c } });
      assert.equal(r.status, 200, r.text);
      await a.next('branding', (m) => m.branding?.text_color === c);
    }
    const seen = a.msgs.filter((m) => typeof m.seq === 'number');
    const last = seen[seen.length - 1];
    const prev = seen[seen.length - 2];
    assert.equal(last.branding?.text_color, '#AA0002');
    a.drop();
    await sleep(200);
    const a2 = await WsClient.connect(srv.wsUrl, { name: 'alice-2' });
    h.wss.push(a2);
    const reg2 = await a2.hello({ token: alice.token, resume: { session_id: reg.session_id, secret: reg.resume_secret, last_seq: prev.seq - 1 } });
    assert.equal(reg2.resumed, true);
    await sleep(500);
    const replayed = a2.msgs.filter((m) => m.type !== 'registered' && m.type !== 'pong' && m.seq <= last.seq);
    assert.deepEqual(
      replayed.map((m) => [m.seq, m.type]),
      [
        [prev.seq, prev.type],
        [last.seq, last.type],
      ],
      'exactly the two events after last_seq, in order, once each',
    );
  },
  opt,
);

itest(
  'resume with a wrong secret or an unknown session: a new session starts',
  async (h) => {
    const alice = await h.user(short, acctShort, 'alice');
    const a = await h.ws(short, alice.token, { name: 'alice-1' });
    const reg = a.registered;
    assert.equal(reg.grace_s, 2, 'registered reports the server grace');
    a.drop();
    await sleep(300);
    const bad = await h.ws(short, alice.token, {
      name: 'alice-badsecret',
      hello: { resume: { session_id: reg.session_id, secret: 'not-the-secret', last_seq: 1 } },
    });
    assert.equal(bad.registered.resumed, false, 'wrong secret: not resumed');
    assert.notEqual(bad.registered.session_id, reg.session_id);
    const unknown = await h.ws(short, alice.token, {
      name: 'alice-unknown',
      hello: { resume: { session_id: 's_doesnotexist', secret: 'x', last_seq: 1 } },
    });
    assert.equal(unknown.registered.resumed, false);

  },
  opt,
);

itest(
  'dropped past the grace (--reconnect-grace 2): the other side gets ended(network_loss), and so does the record',
  async (h) => {
    const alice = await h.user(short, acctShort, 'alice');
    const bob = await h.user(short, acctShort, 'bob');
    const proxy = await h.proxy(short.port);
    const callee = h.listen(short, bob, ['--answer-after', '0.1', '--exit-after-calls', '1']);
    await callee.waitFor('registered');
    const caller = h.call(short, alice, bob.cuid, [], { url: proxy.url });
    const id = (await caller.waitFor('outgoing')).call_id;
    await caller.waitFor('answered', (e) => e.call_id === id);

    proxy.refuse(true);
    const t0 = Date.now();
    proxy.dropAll();
    await callee.waitFor('reconnecting', (e) => e.call_id === id, 5000);
    const ee = await callee.waitFor('ended', (e) => e.call_id === id, 10000);
    const waited = Date.now() - t0;
    assert.equal(ee.reason, 'network_loss');
    assert.ok(waited >= 1500, `ended only after the 2 s grace (${waited} ms)`);
    assert.equal(callee.all('reconnected', id).length, 0);
    await sleep(200);
    endedOnce(assert, callee, id);
    const rec = await waitEnded(short, acctShort, id);
    assert.equal(rec.reason, 'network_loss');

    // The caller comes back later: its session is gone, so its SDK reports the call ended too.
    proxy.refuse(false);
    const ec = await caller.waitFor('ended', (e) => e.call_id === id, 20000);
    assert.equal(ec.reason, 'network_loss');
    await sleep(200);
    endedOnce(assert, caller, id);
    await exitsWith(assert, 0, callee, caller);
  },
  opt,
);

itest(
  'raw ws: the session of a peer gone past the grace is not resumable and the call record is network_loss',
  async (h) => {
    const alice = await h.user(short, acctShort, 'alice');
    const bob = await h.user(short, acctShort, 'bob');
    const a = await h.ws(short, alice.token, { name: 'alice' });
    const b = await h.ws(short, bob.token, { name: 'bob' });
    const reg = a.registered;
    const out = await a.request({ type: 'place', client_call_id: 'pg-1', to: bob.cuid, context: 'grace' }, 'outgoing');
    await b.next('incoming', (m) => m.call_id === out.call_id);
    b.send({ type: 'answer', call_id: out.call_id });
    await a.next('answered', (m) => m.call_id === out.call_id);
    a.drop();
    const e = await b.next('ended', (m) => m.call_id === out.call_id, 8000);
    assert.equal(e.reason, 'network_loss');
    assert.equal((await waitEnded(short, acctShort, out.call_id)).reason, 'network_loss');
    const a2 = await h.ws(short, alice.token, {
      name: 'alice-late',
      hello: { resume: { session_id: reg.session_id, secret: reg.resume_secret, last_seq: a.maxSeq() } },
    });
    assert.equal(a2.registered.resumed, false, 'grace over: a fresh session');
    assert.notEqual(a2.registered.session_id, reg.session_id);
  },
  opt,
);
