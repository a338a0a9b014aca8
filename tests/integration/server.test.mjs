// dcalld as a process: draining on SIGTERM, the hello deadline, the per-user device cap, metrics.
import { itest, assert, rest, waitEnded, rawAnsweredCall, sleep } from './lib/index.mjs';

itest('SIGTERM drains: health turns draining, new calls refused, live calls end server_shutdown, 1001', async (h) => {
  const srv = await h.startServer({ extraArgs: ['--drain-timeout', '2'] });
  const acct = await h.account(srv);
  const ua = await h.user(srv, acct, 'drainera');
  const ub = await h.user(srv, acct, 'drainerb');
  const uc = await h.user(srv, acct, 'drainerc');
  const a = await h.ws(srv, ua.token, { name: 'a' });
  const b = await h.ws(srv, ub.token, { name: 'b' });
  const c = await h.ws(srv, uc.token, { name: 'c' });
  const id = await rawAnsweredCall(a, b, ub.cuid);
  srv.proc.kill('SIGTERM');
  await sleep(300);
  const hz = await rest(srv, 'GET', '/healthz');
  assert.equal(hz.status, 503);
  assert.equal(hz.json.status, 'draining');
  const refused = await c.request({ type: 'place', client_call_id: 'drain-1', to: ua.cuid, context: 'late' }, 'outgoing');
  assert.equal(refused.type, 'error');
  assert.equal(refused.code, 'server_draining');
  const ea = await a.next('ended', (m) => m.call_id === id, 5000);
  const eb = await b.next('ended', (m) => m.call_id === id, 5000);
  for (const e of [ea, eb]) {
    assert.equal(e.reason, 'failed');
    assert.equal(e.detail, 'server_shutdown');
  }
  const ca = await a.waitClosed(5000);
  assert.equal(ca.code, 1001);
  const exit = await srv.proc.exited;
  assert.equal(exit.code, 0);
  // The record was written before anyone was told.
  const again = await h.startServer({ dataDir: srv.dataDir });
  const rec = await waitEnded(again, acct, id);
  assert.equal(rec.reason, 'failed');
  assert.equal(rec.detail, 'server_shutdown');
});

itest('a socket that never says hello is closed 4001 hello_timeout after 10 s', async (h) => {
  const srv = await h.startServer();
  const w = await h.ws(srv, null, { name: 'silent' });
  const t0 = Date.now();
  const closed = await w.waitClosed(15000);
  const waited = Date.now() - t0;
  assert.equal(closed.code, 4001);
  assert.equal(closed.reason, 'hello_timeout');
  assert.ok(waited >= 9000 && waited < 14000, `closed after ${waited} ms`);
}, { timeout: 30000 });

itest('at most 16 devices per user: a 17th live device is refused, a detached one makes room', async (h) => {
  const srv = await h.startServer();
  const acct = await h.account(srv);
  const u = await h.user(srv, acct, 'manydev');
  const devs = [];
  for (let i = 0; i < 16; i++) devs.push(await h.ws(srv, u.token, { name: `d${i}` }));
  const extra = await h.ws(srv, null, { name: 'd16' });
  await assert.rejects(extra.hello({ token: u.token }), /too_many_devices/);
  assert.equal((await extra.waitClosed()).code, 4001);
  const pres = await rest(srv, 'GET', `/v1/users/${u.cuid}`, { auth: [acct.account_id, acct.api_secret] });
  assert.equal(pres.json.devices, 16);
  devs[0].drop(); // detached: still a session for the grace, but it may be evicted
  await sleep(300);
  const again = await h.ws(srv, u.token, { name: 'd17' });
  assert.equal(again.registered.resumed, false);
  const pres2 = await rest(srv, 'GET', `/v1/users/${u.cuid}`, { auth: [acct.account_id, acct.api_secret] });
  assert.equal(pres2.json.devices, 16);
});

itest('metrics count connections, sessions, calls by state and ended calls by reason', async (h) => {
  const srv = await h.startServer();
  const acct = await h.account(srv);
  const ua = await h.user(srv, acct, 'metrica');
  const ub = await h.user(srv, acct, 'metricb');
  const a = await h.ws(srv, ua.token, { name: 'a' });
  const b = await h.ws(srv, ub.token, { name: 'b' });
  const id = await rawAnsweredCall(a, b, ub.cuid);
  const metric = async (name) => {
    const r = await rest(srv, 'GET', '/metrics');
    const line = r.text.split('\n').find((l) => l.startsWith(name + ' '));
    return line ? Number(line.split(' ')[1]) : NaN;
  };
  assert.equal(await metric('dcall_connections'), 2);
  assert.equal(await metric('dcall_sessions'), 2);
  assert.equal(await metric('dcall_calls{state="ongoing"}'), 1);
  a.send({ type: 'hangup', call_id: id });
  await a.next('ended', (m) => m.call_id === id);
  assert.equal(await metric('dcall_calls{state="ongoing"}'), 0);
  assert.equal(await metric('dcall_calls_placed_total'), 1);
  assert.equal(await metric('dcall_calls_ended_total{reason="completed"}'), 1);
  // One setup in the last 10 whole seconds: 0.1/s once its second has passed.
  let rate = NaN;
  for (let i = 0; i < 30 && rate !== 0.1; i++) {
    await sleep(100);
    rate = await metric('dcall_setups_per_second');
  }
  assert.equal(rate, 0.1);
});

itest('ack drops replay copies: a resume from before the acked seq starts a new session', async (h) => {
  const srv = await h.startServer();
  const acct = await h.account(srv);
  const u = await h.user(srv, acct, 'acker');
  const a = await h.ws(srv, u.token, { name: 'a' });
  await a.next('branding');
  const reg = a.registered;
  const bad = await a.request({ type: 'ack', seq: 99 }, 'error');
  assert.equal(bad.code, 'invalid_field');
  assert.equal(bad.field, 'seq');
  a.send({ type: 'ack', seq: a.maxSeq() });
  await sleep(100);
  a.drop();
  // Resuming from seq 1 needs events the server no longer holds.
  const b = await h.ws(srv, null, { name: 'b' });
  const r1 = await b.hello({ token: u.token, resume: { session_id: reg.session_id, secret: reg.resume_secret, last_seq: 1 } });
  assert.equal(r1.resumed, false);
  // A resume from the acked seq works (on the other session, still in its grace).
  const c = await h.ws(srv, null, { name: 'c' });
  const u2 = await h.user(srv, acct, 'acker2');
  const d = await h.ws(srv, u2.token, { name: 'd' });
  await d.next('branding');
  const s2 = d.maxSeq();
  d.send({ type: 'ack', seq: s2 });
  await sleep(100);
  d.drop();
  const r2 = await c.hello({ token: u2.token, resume: { session_id: d.registered.session_id, secret: d.registered.resume_secret, last_seq: s2 } });
  assert.equal(r2.resumed, true);
});
