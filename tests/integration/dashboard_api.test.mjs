// The dashboard's server side (docs/dashboard.md) against a real dcalld: sign-up and log-in by
// e-mail, the session cookie and its flags, CSRF, the login rate limit, logout, secret rotation,
// one account's session against another's data, the live feed WebSocket, allowed_origins on
// /v1/ws, POST /v1/webhooks/test and the calls CSV export.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import {
  itest,
  assert,
  rest,
  sleep,
  withTimeout,
  waitUntil,
  waitEnded,
  mintToken,
  rawAnsweredCall,
  uniqCuid,
} from './lib/index.mjs';
import { WebhookReceiver, advanceClock, webhookLog } from './lib/webhook.mjs';

const PASSWORD = 'correct horse battery';
let emailSeq = 0;
const newEmail = (tag = 'owner') => `${tag}.${process.pid}.${++emailSeq}@Example.com`;

// A request with the dashboard's credentials: the session cookie and (unless csrf === false)
// its CSRF token.
function web(srv, method, path, sess, { body, csrf, headers = {} } = {}) {
  const h = { ...headers };
  if (sess) h.cookie = `dc_session=${sess.token}`;
  if (sess && csrf !== false) h['x-csrf-token'] = csrf ?? sess.csrf;
  return rest(srv, method, path, { body, headers: h });
}

// The dc_session cookie of a response: {token, attrs: [lower-cased attributes]}.
function sessionCookie(res) {
  const sc = res.headers.getSetCookie().find((c) => c.startsWith('dc_session='));
  assert.ok(sc, `a dc_session Set-Cookie (got ${JSON.stringify(res.headers.getSetCookie())})`);
  const [kv, ...attrs] = sc.split(';').map((s) => s.trim());
  return { token: kv.slice('dc_session='.length), attrs: attrs.map((a) => a.toLowerCase()), raw: sc };
}

async function signup(srv, email = newEmail(), company = 'Acme Rides') {
  const r = await rest(srv, 'POST', '/v1/web/signup', { body: { email, password: PASSWORD, company } });
  assert.equal(r.status, 201, `signup: ${r.text}`);
  const c = sessionCookie(r);
  return { ...r.json, email, token: c.token, csrf: r.json.csrf_token, cookie: c, res: r };
}

async function login(srv, email, password = PASSWORD) {
  const r = await rest(srv, 'POST', '/v1/web/login', { body: { email, password } });
  if (r.status !== 200) return { status: r.status, res: r };
  const c = sessionCookie(r);
  return { status: 200, ...r.json, token: c.token, csrf: r.json.csrf_token, res: r };
}

const basic = (s) => [s.account_id, s.api_secret];

// A WebSocket with explicit headers; resolves once open, rejects when the upgrade fails.
function openWs(url, headers = {}) {
  const ws = new WebSocket(url, { headers, handshakeTimeout: 5000 });
  const c = { ws, msgs: [], waiters: new Set(), closeInfo: null };
  c.closed = new Promise((resolve) =>
    ws.once('close', (code, reason) => {
      c.closeInfo = { code, reason: reason.toString() };
      resolve(c.closeInfo);
      for (const w of c.waiters) w();
    }),
  );
  ws.on('message', (d) => {
    c.msgs.push(JSON.parse(d.toString()));
    for (const w of c.waiters) w();
  });
  c.next = (pred, ms = 5000, what = 'message') => {
    let seen = 0;
    let waiter;
    const p = new Promise((resolve, reject) => {
      waiter = () => {
        for (; seen < c.msgs.length; seen++) {
          if (pred(c.msgs[seen])) return resolve(c.msgs[seen++]);
        }
        if (c.closeInfo) reject(new Error(`closed ${JSON.stringify(c.closeInfo)} before ${what}`));
      };
      c.waiters.add(waiter);
      waiter();
    });
    return withTimeout(p, ms, what).finally(() => c.waiters.delete(waiter));
  };
  c.close = () => ws.terminate();
  const opened = new Promise((resolve, reject) => {
    ws.once('open', () => resolve(c));
    ws.once('unexpected-response', (req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return withTimeout(opened, 5000, 'WebSocket open');
}

const liveUrl = (srv) => srv.wsUrl.replace('/v1/ws', '/v1/web/live');
const liveHeaders = (srv, sess, origin = srv.url) => ({ cookie: `dc_session=${sess.token}`, origin });

// A completed call between two fresh users of the account; returns its id once ended.
async function completedCall(h, srv, acct, context = 'Your ride #4821') {
  const ua = await h.user(srv, acct, 'rider');
  const ub = await h.user(srv, acct, 'driver');
  const a = await h.ws(srv, ua.token, { name: `rider:${ua.cuid}` });
  const b = await h.ws(srv, ub.token, { name: `driver:${ub.cuid}` });
  const id = await rawAnsweredCall(a, b, ub.cuid, context);
  a.send({ type: 'hangup', call_id: id });
  await a.next('ended', (m) => m.call_id === id);
  return id;
}

// A call to nobody: it ends at once as unreachable.
async function unreachableCall(h, srv, acct, context = 'ctx') {
  const u = await h.user(srv, acct, 'rider');
  const ws = await h.ws(srv, u.token, { name: `caller:${u.cuid}` });
  const out = await ws.request({ type: 'place', client_call_id: `cc-${uniqCuid('x')}`, to: 'nobody_home', context }, 'outgoing');
  assert.equal(out.type, 'outgoing', `place refused: ${JSON.stringify(out)}`);
  await ws.next('ended', (m) => m.call_id === out.call_id);
  return out.call_id;
}

itest('signup -> me: the session cookie is HttpOnly, SameSite=Strict, Path=/, 12 h; the secret is shown once', async (h) => {
  const srv = await h.startServer();
  const s = await signup(srv);
  assert.match(s.account_id, /^acc_[a-z0-9]{16}$/);
  assert.match(s.api_key, /^key_[a-z0-9]{24}$/);
  assert.match(s.api_secret, /^sk_[a-z0-9]{40}$/);
  assert.match(s.csrf_token, /^[a-z0-9]{40}$/);
  assert.equal(s.company, 'Acme Rides');
  assert.match(s.token, /^[A-Za-z0-9_-]{43}$/);
  for (const a of ['httponly', 'samesite=strict', 'path=/', 'max-age=43200']) {
    assert.ok(s.cookie.attrs.includes(a), `cookie has ${a}: ${s.cookie.raw}`);
  }
  assert.ok(!s.cookie.attrs.includes('secure'), 'no Secure over plain HTTP (the TLS test covers Secure)');

  const me = await web(srv, 'GET', '/v1/web/me', s);
  assert.equal(me.status, 200, me.text);
  assert.deepEqual(
    { ...me.json },
    { account_id: s.account_id, api_key: s.api_key, email: s.email, company: 'Acme Rides', csrf_token: s.csrf, kid: 'k1' },
  );
  assert.ok(!me.text.includes(s.api_secret), 'me never carries the API secret');
  const settings = await web(srv, 'GET', '/v1/settings', s);
  assert.equal(settings.status, 200);
  assert.ok(!settings.text.includes(s.api_secret), 'settings never carry the API secret');
  // the secret works for a backend (HTTP Basic)
  assert.equal((await rest(srv, 'GET', '/v1/settings', { auth: basic(s) })).status, 200);
  assert.ok(!srv.log.includes(s.api_secret), 'the secret is never logged');
  assert.ok(!srv.log.includes(PASSWORD), 'the password is never logged');
  assert.ok(!srv.log.includes(s.token), 'the session token is never logged');

  // no cookie, a made-up cookie: 401, without a Basic prompt for the browser
  assert.equal((await rest(srv, 'GET', '/v1/web/me')).status, 401);
  const forged = await web(srv, 'GET', '/v1/stats', { token: 'A'.repeat(43), csrf: 'x' });
  assert.equal(forged.status, 401);
  assert.equal(forged.headers.get('www-authenticate'), null);
});

itest('signup input rules, e-mail taken whatever its case', async (h) => {
  const srv = await h.startServer();
  const bad = [
    [{ email: 'not-an-address', password: PASSWORD, company: 'Acme' }, 'invalid_email', 'email'],
    [{ email: 'a@b', password: PASSWORD, company: 'Acme' }, 'invalid_email', 'email'],
    [{ email: newEmail(), password: 'short', company: 'Acme' }, 'weak_password', 'password'],
    [{ email: newEmail(), password: PASSWORD, company: 'A' }, 'invalid_company', 'company'],
    [{ email: newEmail(), company: 'Acme' }, 'weak_password', 'password'],
  ];
  for (const [body, code, field] of bad) {
    const r = await rest(srv, 'POST', '/v1/web/signup', { body });
    assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${r.text}`);
    assert.equal(r.json.error.code, code);
    assert.equal(r.json.error.field, field);
    assert.ok(r.json.error.message.includes(field), 'the message names the field');
  }
  const email = newEmail('taken');
  await signup(srv, email);
  const again = await rest(srv, 'POST', '/v1/web/signup', { body: { email: email.toUpperCase(), password: PASSWORD, company: 'Other' } });
  assert.equal(again.status, 409, again.text);
  assert.equal(again.json.error.code, 'email_taken');
  assert.equal(again.headers.getSetCookie().length, 0, 'no session for a refused signup');
});

itest('10 sign-ups per client address in 15 minutes, then 429 with Retry-After', async (h) => {
  const srv = await h.startServer();
  for (let i = 0; i < 10; i++) await signup(srv);
  const r = await rest(srv, 'POST', '/v1/web/signup', { body: { email: newEmail(), password: PASSWORD, company: 'Acme' } });
  assert.equal(r.status, 429, r.text);
  assert.equal(r.json.error.code, 'rate_limited');
  const wait = Number(r.headers.get('retry-after'));
  assert.ok(wait > 800 && wait <= 900, `Retry-After ${wait}`);
  assert.equal(r.headers.getSetCookie().length, 0);
});

itest('login: wrong password and unknown e-mail are the same 401; 5 failures -> 429 with Retry-After', async (h) => {
  const srv = await h.startServer();
  const s = await signup(srv);
  const ok = await login(srv, s.email.toLowerCase());
  assert.equal(ok.status, 200, 'the e-mail matches whatever its case');
  assert.equal(ok.account_id, s.account_id);
  assert.notEqual(ok.token, s.token, 'a new session');
  assert.ok(!JSON.stringify(ok.res.json).includes('api_secret'), 'login never returns the secret');

  const wrong = await login(srv, s.email, 'wrong password!');
  const unknown = await login(srv, newEmail('nobody'), 'wrong password!');
  assert.equal(wrong.status, 401);
  assert.equal(unknown.status, 401);
  assert.equal(wrong.res.json.error.code, 'invalid_credentials');
  assert.deepEqual(wrong.res.json, unknown.res.json, 'the same answer for both');
  assert.equal(wrong.res.headers.getSetCookie().length, 0);

  for (let i = 0; i < 4; i++) assert.equal((await login(srv, s.email, `wrong ${i} password`)).status, 401);
  const limited = await login(srv, s.email, 'wrong again!!');
  assert.equal(limited.status, 429, 'the 6th attempt after 5 failures is refused');
  assert.equal(limited.res.json.error.code, 'rate_limited');
  const wait = Number(limited.res.headers.get('retry-after'));
  assert.ok(wait > 0 && wait <= 900, `Retry-After in seconds within 15 min: ${wait}`);
  const right = await login(srv, s.email);
  assert.equal(right.status, 429, 'even the right password waits');
  // another e-mail from the same address is not limited yet (20 per address)
  const other = await signup(srv);
  assert.equal((await login(srv, other.email)).status, 200);

  await advanceClock(srv, 15 * 60 * 1000 + 1000);
  const after = await login(srv, s.email);
  assert.equal(after.status, 200, 'the window passed');
});

itest('parallel wrong logins cannot pass the limit; a login abandoned mid-check does no harm', async (h) => {
  const srv = await h.startServer();
  const s = await signup(srv);
  const res = await Promise.all(Array.from({ length: 12 }, (_, i) => login(srv, s.email, `wrong ${i} password`)));
  const counts = res.reduce((m, r) => ({ ...m, [r.status]: (m[r.status] || 0) + 1 }), {});
  assert.deepEqual(counts, { 401: 5, 429: 7 }, 'exactly 5 attempts are checked');
  // a client that goes away while its password is being checked
  const other = await signup(srv);
  // a raw request that reaches the server at once, then a hang-up well before scrypt (~50 ms) ends
  const body = JSON.stringify({ email: other.email, password: PASSWORD });
  for (let i = 0; i < 3; i++) {
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((resolve) => sock.once('connect', resolve));
    sock.write(`POST /v1/web/login HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await sleep(10);
    sock.destroy();
  }
  await waitUntil(() => /login: the client went away/.test(srv.log), { what: 'the server to see a hang-up mid-check' });
  assert.match(srv.log, /login: the client went away before its password was processed/, 'an abort landed mid-check');
  assert.equal((await login(srv, other.email)).status, 200, 'the server still answers; a right password counted no failure');
});

itest('20 failed logins per client address, across e-mails', async (h) => {
  const srv = await h.startServer();
  for (let i = 0; i < 20; i++) {
    const r = await login(srv, newEmail(`probe${i}`), 'wrong password!');
    assert.equal(r.status, 401, `attempt ${i + 1}`);
  }
  const s = await signup(srv);
  const r = await login(srv, s.email);
  assert.equal(r.status, 429, 'the address is over its limit');
  assert.ok(Number(r.res.headers.get('retry-after')) > 0);
});

itest('CSRF: a signed-in PUT needs X-CSRF-Token; Authorization wins over the cookie', async (h) => {
  const srv = await h.startServer();
  const s = await signup(srv);
  const body = { text_color: '#112233' };
  const none = await web(srv, 'PUT', '/v1/branding', s, { body, csrf: false });
  assert.equal(none.status, 403, none.text);
  assert.equal(none.json.error.code, 'csrf_failed');
  assert.equal(none.json.error.field, 'X-CSRF-Token');
  const wrongTok = await web(srv, 'PUT', '/v1/branding', s, { body, csrf: 'x'.repeat(40) });
  assert.equal(wrongTok.status, 403);
  const other = await signup(srv);
  const foreign = await web(srv, 'PUT', '/v1/branding', s, { body, csrf: other.csrf });
  assert.equal(foreign.status, 403, "another session's token does not do");
  assert.equal((await web(srv, 'GET', '/v1/branding', s)).json.text_color, '#000000', 'nothing changed');
  const good = await web(srv, 'PUT', '/v1/branding', s, { body });
  assert.equal(good.status, 200, good.text);
  assert.equal(good.json.text_color, '#112233');
  // also on the session endpoints
  assert.equal((await web(srv, 'POST', '/v1/web/logout', s, { csrf: false })).status, 403);
  assert.equal((await web(srv, 'POST', '/v1/web/secret/rotate', s, { csrf: false })).status, 403);
  // Basic auth ignores cookies and needs no CSRF token; a wrong Basic is not rescued by a cookie
  const viaBasic = await rest(srv, 'PUT', '/v1/branding', {
    auth: basic(other),
    body: { text_color: '#445566' },
    headers: { cookie: `dc_session=${s.token}` },
  });
  assert.equal(viaBasic.status, 200);
  assert.equal((await web(srv, 'GET', '/v1/branding', other)).json.text_color, '#445566');
  const badBasic = await rest(srv, 'GET', '/v1/settings', {
    auth: [s.account_id, 'sk_wrong'],
    headers: { cookie: `dc_session=${s.token}` },
  });
  assert.equal(badBasic.status, 401);
});

itest("one account's session cannot read another's calls or stats", async (h) => {
  const srv = await h.startServer();
  const a = await signup(srv);
  const b = await signup(srv);
  const bCall = await unreachableCall(h, srv, basic(b));
  const aCall = await unreachableCall(h, srv, basic(a));
  const mine = await web(srv, 'GET', `/v1/calls/${aCall}`, a);
  assert.equal(mine.status, 200);
  const theirs = await web(srv, 'GET', `/v1/calls/${bCall}`, a);
  assert.equal(theirs.status, 404, theirs.text);
  const list = await web(srv, 'GET', '/v1/calls', a);
  assert.deepEqual(list.json.calls.map((c) => c.id), [aCall]);
  const del = await web(srv, 'DELETE', `/v1/calls/${bCall}`, a);
  assert.equal(del.status, 404);
  const statsA = await web(srv, 'GET', '/v1/stats', a);
  const statsB = await web(srv, 'GET', '/v1/stats', b);
  assert.equal(statsA.status, 200, statsA.text);
  assert.equal(statsA.json.totals.unreachable, 1, JSON.stringify(statsA.json.totals));
  assert.equal(statsB.json.totals.unreachable, 1, "B's call is counted for B only");
});

itest('logout ends the session (and its live feed) and clears the cookie', async (h) => {
  const srv = await h.startServer();
  const s = await signup(srv);
  const second = await login(srv, s.email);
  const live = await openWs(liveUrl(srv), liveHeaders(srv, s));
  await live.next((m) => m.event === 'hello');
  const out = await web(srv, 'POST', '/v1/web/logout', s);
  assert.equal(out.status, 200, out.text);
  assert.deepEqual(out.json, { ok: true });
  const cleared = sessionCookie(out.res ?? out);
  assert.equal(cleared.token, '');
  assert.ok(cleared.attrs.includes('max-age=0'));
  assert.equal((await web(srv, 'GET', '/v1/web/me', s)).status, 401);
  assert.equal((await web(srv, 'GET', '/v1/calls', s)).status, 401);
  const closed = await withTimeout(live.closed, 2000, 'live feed closed on logout');
  assert.equal(closed.code, 4002);
  assert.equal((await web(srv, 'GET', '/v1/web/me', second)).status, 200, 'the other session lives on');
});

itest('rotate: the old secret is refused at once (Basic and its tokens), the new one works', async (h) => {
  const srv = await h.startServer();
  const s = await signup(srv);
  const oldToken = await mintToken(srv, basic(s), { cuid: 'rider_one' });
  const r = await web(srv, 'POST', '/v1/web/secret/rotate', s);
  assert.equal(r.status, 200, r.text);
  assert.match(r.json.api_secret, /^sk_[a-z0-9]{40}$/);
  assert.notEqual(r.json.api_secret, s.api_secret);
  assert.equal(r.json.kid, 'k2');
  assert.equal((await rest(srv, 'GET', '/v1/settings', { auth: basic(s) })).status, 401);
  const fresh = await rest(srv, 'GET', '/v1/settings', { auth: [s.account_id, r.json.api_secret] });
  assert.equal(fresh.status, 200);
  assert.equal(fresh.json.kid, 'k2');
  await assert.rejects(h.ws(srv, oldToken), /invalid_token/, 'a token signed with the old secret is refused');
  const newToken = await mintToken(srv, [s.account_id, r.json.api_secret], { cuid: 'rider_one' });
  await h.ws(srv, newToken);
  const me = await web(srv, 'GET', '/v1/web/me', s);
  assert.equal(me.json.kid, 'k2');
  assert.ok(!me.text.includes(r.json.api_secret));
  // it survives a restart (stored sealed)
  await srv.restart();
  assert.equal((await rest(srv, 'GET', '/v1/settings', { auth: [s.account_id, r.json.api_secret] })).status, 200);
  assert.equal((await rest(srv, 'GET', '/v1/settings', { auth: basic(s) })).status, 401);
  assert.equal((await web(srv, 'GET', '/v1/web/me', s)).status, 200, 'sessions survive a restart');
});

itest('live feed: hello, then the call events of its own account within 2 s; refused without session or with a foreign Origin', async (h) => {
  const srv = await h.startServer();
  const a = await signup(srv);
  const b = await signup(srv);
  const live = await openWs(liveUrl(srv), liveHeaders(srv, a));
  const hello = await live.next((m) => m.event === 'hello');
  assert.deepEqual(hello, { event: 'hello', account_id: a.account_id });

  await unreachableCall(h, srv, basic(b)); // another account's call: not on this feed
  const ended = [];
  const t0 = Date.now();
  const id = await completedCall(h, srv, basic(a));
  const got = await live.next((m) => m.event === 'call' && m.call.id === id && m.call.state === 'ended', 2000, 'ended call event');
  ended.push(Date.now() - t0);
  assert.equal(got.call.reason, 'completed');
  const rec = await waitEnded(srv, basic(a), id);
  assert.deepEqual(got.call, rec, 'the REST view of the call');
  const states = live.msgs.filter((m) => m.event === 'call' && m.call.id === id).map((m) => m.call.state);
  assert.deepEqual(states, ['ringing', 'ongoing', 'ended'], 'placed, answered, ended');
  assert.ok(
    live.msgs.every((m) => m.event === 'hello' || m.call.id === id),
    `only this account's calls: ${JSON.stringify(live.msgs)}`,
  );

  // the feed takes no input: it cannot sign in or place calls
  live.ws.send(JSON.stringify({ type: 'hello', v: 1, token: 'x' }));
  const closed = await withTimeout(live.closed, 2000, 'live feed closed on input');
  assert.equal(closed.code, 1008);

  await assert.rejects(openWs(liveUrl(srv), { origin: srv.url }), /upgrade refused|socket hang up|closed|ECONNRESET/i, 'no cookie');
  await assert.rejects(openWs(liveUrl(srv), liveHeaders(srv, a, 'https://evil.example')), /upgrade refused|socket hang up|closed|ECONNRESET/i, 'foreign Origin');
  await assert.rejects(openWs(liveUrl(srv), { cookie: `dc_session=${a.token}` }), /upgrade refused|socket hang up|closed|ECONNRESET/i, 'no Origin');
  await assert.rejects(openWs(liveUrl(srv), liveHeaders(srv, { token: 'B'.repeat(43) })), /upgrade refused|socket hang up|closed|ECONNRESET/i, 'unknown session');
  const again = await openWs(liveUrl(srv), liveHeaders(srv, a));
  await again.next((m) => m.event === 'hello');
  again.close();
  assert.ok(ended[0] < 5000);
});

itest('allowed_origins: validated; a listed Origin or none may sign in on /v1/ws, another is closed with origin_not_allowed', async (h) => {
  const srv = await h.startServer();
  const s = await signup(srv);
  for (const bad of ['https://app.example.com/path', 'ftp://x.example', ['https://ok.example', 5], 'https://x.example:99999']) {
    const r = await web(srv, 'PUT', '/v1/settings', s, { body: { allowed_origins: Array.isArray(bad) ? bad : [bad] } });
    assert.equal(r.status, 400, `${JSON.stringify(bad)} -> ${r.text}`);
    assert.equal(r.json.error.code, 'invalid_origin');
    assert.equal(r.json.error.field, 'allowed_origins');
  }
  const tooMany = Array.from({ length: 21 }, (_, i) => `https://a${i}.example`);
  assert.equal((await web(srv, 'PUT', '/v1/settings', s, { body: { allowed_origins: tooMany } })).status, 400);
  const put = await web(srv, 'PUT', '/v1/settings', s, { body: { allowed_origins: ['https://app.example.com', 'http://localhost:8080'] } });
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.json.allowed_origins, ['https://app.example.com', 'http://localhost:8080']);
  assert.deepEqual((await rest(srv, 'GET', '/v1/settings', { auth: basic(s) })).json.allowed_origins, put.json.allowed_origins);

  const token = await mintToken(srv, basic(s), { cuid: 'web_rider' });
  const hello = JSON.stringify({ type: 'hello', v: 1, token });
  const evil = await openWs(srv.wsUrl, { origin: 'https://evil.example' });
  evil.ws.send(hello);
  const err = await evil.next((m) => m.type === 'error');
  assert.equal(err.code, 'origin_not_allowed');
  const closed = await withTimeout(evil.closed, 2000, 'close');
  assert.equal(closed.reason, 'origin_not_allowed');
  for (const headers of [{ origin: 'https://app.example.com' }, {}]) {
    const ok = await openWs(srv.wsUrl, headers);
    ok.ws.send(hello);
    const m = await ok.next((x) => x.type === 'registered' || x.type === 'error');
    assert.equal(m.type, 'registered', `${JSON.stringify(headers)}: ${JSON.stringify(m)}`);
    ok.close();
  }
  // an empty list lets every origin in
  await web(srv, 'PUT', '/v1/settings', s, { body: { allowed_origins: [] } });
  const any = await openWs(srv.wsUrl, { origin: 'https://evil.example' });
  any.ws.send(hello);
  assert.equal((await any.next((x) => x.type === 'registered' || x.type === 'error')).type, 'registered');
  any.close();
});

itest('POST /v1/webhooks/test: 400 without a URL; delivered through the outbox and in the log', async (h) => {
  const srv = await h.startServer();
  const s = await signup(srv);
  const none = await web(srv, 'POST', '/v1/webhooks/test', s);
  assert.equal(none.status, 400);
  assert.equal(none.json.error.code, 'no_webhook_url');
  const rx = await WebhookReceiver.start();
  try {
    const put = await web(srv, 'PUT', '/v1/settings', s, { body: { webhook_url: rx.url } });
    assert.equal(put.status, 200);
    const r = await web(srv, 'POST', '/v1/webhooks/test', s);
    assert.equal(r.status, 202, r.text);
    assert.match(r.json.id, /^evt_/);
    await rx.waitFor((reqs) => reqs.some((q) => q.json && q.json.id === r.json.id), 'webhook.test delivery');
    const got = rx.requests.find((q) => q.json.id === r.json.id);
    assert.equal(got.json.type, 'webhook.test');
    assert.equal(got.json.account_id, s.account_id);
    assert.match(got.headers['x-dcall-signature'], /^v1=[0-9a-f]{64}$/);
    const log = await waitUntil(async () => {
      const l = await webhookLog(srv, basic(s));
      return l.find((d) => d.event === 'webhook.test' && d.state === 'done') ? l : null;
    }, { what: 'webhook.test done in the log' });
    assert.equal(log[0].event, 'webhook.test');
  } finally {
    await rx.close();
  }
});

// POST JSON over https trusting ca: {status, headers, json}.
function httpsPost(url, body, ca) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = https.request(url, { method: 'POST', ca, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

itest('login CSRF: sign-up and log-in refuse a foreign or opaque Origin; their own host or none is fine', async (h) => {
  const srv = await h.startServer();
  const s = await signup(srv);
  // a cross-site form can post JSON as text/plain; the browser then sends the attacker's Origin
  for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:${srv.port}.evil.example`]) {
    for (const [p, body] of [['/v1/web/login', { email: s.email, password: PASSWORD }],
      ['/v1/web/signup', { email: newEmail('csrf'), password: PASSWORD, company: 'Evil' }]]) {
      const r = await rest(srv, 'POST', p, { body, headers: { origin, 'content-type': 'text/plain' } });
      assert.equal(r.status, 403, `${p} from ${origin}: ${r.text}`);
      assert.equal(r.json.error.code, 'origin_not_allowed');
      assert.equal(r.json.error.field, 'Origin');
      assert.equal(r.headers.getSetCookie().length, 0, 'no session cookie');
    }
  }
  const own = await rest(srv, 'POST', '/v1/web/login', { body: { email: s.email, password: PASSWORD }, headers: { origin: srv.url } });
  assert.equal(own.status, 200, `the dashboard's own origin: ${own.text}`);
});

itest('header edge cases: an oversized Authorization still wins over the cookie; an oversized Origin is not "none"', async (h) => {
  const srv = await h.startServer();
  const s = await signup(srv);
  // Authorization too long to keep (> 511 bytes) must not fall back to the cookie
  const long = await web(srv, 'PUT', '/v1/branding', s, { body: { text_color: '#123456' }, headers: { authorization: 'Basic ' + 'A'.repeat(600) } });
  assert.equal(long.status, 401, long.text);
  assert.equal((await web(srv, 'GET', '/v1/branding', s)).json.text_color, '#000000', 'nothing changed');
  // an Origin too long to keep (> 255 bytes) is refused by allowed_origins, not waved through as a native client
  assert.equal((await web(srv, 'PUT', '/v1/settings', s, { body: { allowed_origins: ['https://app.example.com'] } })).status, 200);
  const token = await mintToken(srv, basic(s), { cuid: 'web_rider' });
  const origin = `https://${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.example`;
  const ws = await openWs(srv.wsUrl, { origin });
  ws.ws.send(JSON.stringify({ type: 'hello', v: 1, token }));
  const m = await ws.next((x) => x.type === 'registered' || x.type === 'error');
  assert.equal(m.type, 'error', JSON.stringify(m));
  assert.equal(m.code, 'origin_not_allowed');
  ws.close();
  // and sign-in from that page is refused too
  const r = await rest(srv, 'POST', '/v1/web/login', { body: { email: s.email, password: PASSWORD }, headers: { origin } });
  assert.equal(r.status, 403, r.text);
});

itest('over TLS the cookie is also Secure, and the live feed wants the https origin', async (h) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dcall-webtls-'));
  try {
    const cert = path.join(tmp, 'cert.pem');
    const key = path.join(tmp, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore' });
    const ca = fs.readFileSync(cert);
    const srv = await h.startServer({ extraArgs: ['--tls-cert', cert, '--tls-key', key, '--no-media'] });
    const r = await httpsPost(`${srv.url}/v1/web/signup`, { email: newEmail('tls'), password: PASSWORD, company: 'Acme TLS' }, ca);
    assert.equal(r.status, 201);
    const sc = r.headers['set-cookie'].find((c) => c.startsWith('dc_session='));
    const attrs = sc.split(';').map((x) => x.trim().toLowerCase());
    for (const a of ['secure', 'httponly', 'samesite=strict', 'path=/', 'max-age=43200']) assert.ok(attrs.includes(a), `${a}: ${sc}`);
    const token = sc.split(';')[0].slice('dc_session='.length);
    const open = (origin) => new Promise((resolve, reject) => {
      const ws = new WebSocket(srv.wsUrl.replace('/v1/ws', '/v1/web/live'), { ca, headers: { cookie: `dc_session=${token}`, origin } });
      ws.once('message', (d) => { ws.terminate(); resolve(JSON.parse(d.toString())); });
      ws.once('error', reject);
      ws.once('unexpected-response', () => reject(new Error('upgrade refused')));
    });
    assert.equal((await open(srv.url)).event, 'hello');
    await assert.rejects(open(srv.url.replace('https:', 'http:')), /upgrade refused|hang up|ECONNRESET/);
    // a browser speaks HTTP/2 over TLS: no Host header there (:authority), and sign-in must still
    // accept the dashboard's own Origin (and still refuse another)
    const h2post = (origin) => new Promise((resolve, reject) => {
      const client = http2.connect(srv.url, { ca });
      client.on('error', reject);
      const body = JSON.stringify({ email: 'nobody@example.com', password: PASSWORD });
      const req = client.request({ ':method': 'POST', ':path': '/v1/web/login', 'content-type': 'application/json', 'content-length': body.length, origin });
      req.on('response', (hd) => { resolve(hd[':status']); client.close(); });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(await h2post(srv.url), 401, 'own origin over HTTP/2: checked (and wrong), not refused');
    assert.equal(await h2post('https://evil.example'), 403, 'a foreign origin over HTTP/2');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

// RFC 4180 parsing, for checking the export.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let f = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (q) {
      if (ch === '"' && text[i + 1] === '"') (f += '"'), i++;
      else if (ch === '"') q = false;
      else f += ch;
    } else if (ch === '"') q = true;
    else if (ch === ',') row.push(f), (f = '');
    else if (ch === '\r' && text[i + 1] === '\n') row.push(f), rows.push(row), (row = []), (f = ''), i++;
    else f += ch;
  }
  if (f || row.length) row.push(f), rows.push(row);
  return rows;
}

itest('calls CSV: every matching call, fields quoted, rows match the calls', async (h) => {
  const srv = await h.startServer();
  const s = await signup(srv);
  const acct = basic(s);
  const done = await completedCall(h, srv, acct, 'Ride "A", pickup, gate 3');
  const un1 = await unreachableCall(h, srv, acct, 'plain');
  const un2 = await unreachableCall(h, srv, acct, '=1+2');
  const r = await web(srv, 'GET', '/v1/calls?format=csv', s);
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^text\/csv/);
  assert.equal(r.headers.get('content-disposition'), 'attachment; filename="calls.csv"');
  const rows = parseCsv(r.text);
  assert.deepEqual(rows[0], ['id', 'created_at', 'caller', 'callee', 'state', 'reason', 'answered_at', 'ended_at', 'duration_ms', 'mos_avg', 'context']);
  const json = (await rest(srv, 'GET', '/v1/calls?limit=1000', { auth: acct })).json.calls;
  assert.equal(rows.length - 1, json.length);
  assert.deepEqual(rows.slice(1).map((x) => x[0]), [un2, un1, done], 'newest first, every call');
  assert.equal(rows[1][10], "'=1+2", 'a formula-looking context is defused with an apostrophe');
  for (const [i, c] of json.entries()) {
    const x = rows[i + 1];
    assert.deepEqual(
      x,
      [c.id, c.created_at, c.caller, c.callee, c.state, c.reason ?? '', c.answered_at ?? '', c.ended_at ?? '', String(c.duration_ms), c.quality ? c.quality.mos_avg.toFixed(2) : '', /^[=+\-@\t\r]/.test(c.context) ? `'${c.context}` : c.context],
    );
  }
  // filters apply; no paging
  const only = parseCsv((await web(srv, 'GET', '/v1/calls?format=csv&status=completed&limit=1', s)).text);
  assert.deepEqual(only.slice(1).map((x) => x[0]), [done]);
  const viaBasic = await rest(srv, 'GET', '/v1/calls?format=csv&status=unreachable', { auth: acct });
  assert.equal(parseCsv(viaBasic.text).length, 3);
  const bad = await web(srv, 'GET', '/v1/calls?format=xml', s);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, 'format');
});

itest('webhooks to loopback or private addresses are refused unless the operator allows them', async (h) => {
  const srv = await h.startServer({ webhookPrivate: false });
  const s = await signup(srv);
  const rx = await WebhookReceiver.start();
  try {
    for (const url of [rx.url, rx.url.replace('127.0.0.1', 'localhost')]) {
      const put = await web(srv, 'PUT', '/v1/settings', s, { body: { webhook_url: url } });
      assert.equal(put.status, 200, put.text);
      const r = await web(srv, 'POST', '/v1/webhooks/test', s);
      assert.equal(r.status, 202, r.text);
      const entry = await waitUntil(async () => {
        const l = await webhookLog(srv, basic(s));
        return l.find((d) => d.event === 'webhook.test' && d.url === url && d.attempts >= 1) || null;
      }, { what: `first attempt to ${url} in the log` });
      assert.equal(entry.state, 'pending', 'kept for retry, not delivered');
      assert.match(entry.last_error, /destination (127\.0\.0\.1|::1) is a loopback, private or link-local address \(dcalld --webhook-allow-private allows it\)/);
    }
    assert.equal(rx.requests.length, 0, 'nothing reached the receiver');
  } finally {
    await rx.close();
  }
});

itest('a live feed ends with its session: 12 h later (test clock) it is closed with 4002 session_expired', async (h) => {
  const srv = await h.startServer();
  const s = await signup(srv);
  const live = await openWs(liveUrl(srv), liveHeaders(srv, s));
  await live.next((m) => m.event === 'hello');
  await advanceClock(srv, 11 * 3600 * 1000);
  await new Promise((r) => setTimeout(r, 6000)); // one check of the feed's 5 s timer
  assert.equal(live.ws.readyState, WebSocket.OPEN, 'still open before the expiry');
  await advanceClock(srv, 3600 * 1000 + 1000);
  const closed = await withTimeout(live.closed, 7000, 'live feed closed at session expiry');
  assert.equal(closed.code, 4002);
  assert.equal(closed.reason, 'session_expired');
  assert.equal((await web(srv, 'GET', '/v1/web/me', s)).status, 401);
});

// Sign-ups until the per-address limit answers 429; xff(i) gives the X-Forwarded-For of attempt i.
async function signupsUntilLimited(srv, xff, max = 12) {
  for (let i = 0; i < max; i++) {
    const r = await rest(srv, 'POST', '/v1/web/signup', {
      body: { email: newEmail(), password: PASSWORD, company: 'Acme' },
      headers: { 'x-forwarded-for': xff(i) },
    });
    if (r.status === 429) return i;
    assert.equal(r.status, 201, r.text);
  }
  return null;
}

itest('without --trust-proxy, X-Forwarded-For and X-Forwarded-Proto are ignored', async (h) => {
  const srv = await h.startServer();
  assert.equal(await signupsUntilLimited(srv, (i) => `198.51.100.${i + 1}`), 10, 'one address whatever the header says');
  const r = await rest(srv, 'GET', '/v1/web/me', { headers: { 'x-forwarded-proto': 'https' } });
  assert.equal(r.status, 401);
  const srv2 = await h.startServer();
  const s = await rest(srv2, 'POST', '/v1/web/signup', {
    body: { email: newEmail(), password: PASSWORD, company: 'Acme' },
    headers: { 'x-forwarded-proto': 'https' },
  });
  assert.equal(s.status, 201);
  assert.ok(!sessionCookie(s).attrs.includes('secure'), 'no Secure on plain HTTP');
});

itest('with --trust-proxy: limits by the forwarded address, Secure cookie and https origin from X-Forwarded-Proto', async (h) => {
  const srv = await h.startServer({ extraArgs: ['--trust-proxy'] });
  // the last entry is the proxy's view of the client; earlier ones are the client's own claims
  assert.equal(await signupsUntilLimited(srv, (i) => `10.9.9.${i}, 203.0.113.7`), 10, 'limited per forwarded address');
  const other = await rest(srv, 'POST', '/v1/web/signup', {
    body: { email: newEmail(), password: PASSWORD, company: 'Acme' },
    headers: { 'x-forwarded-for': '203.0.113.8', 'x-forwarded-proto': 'https' },
  });
  assert.equal(other.status, 201, 'another forwarded address has its own budget');
  const c = sessionCookie(other);
  assert.ok(c.attrs.includes('secure'), `Secure behind a TLS proxy: ${c.attrs}`);
  const host = new URL(srv.url).host;
  const live = await openWs(liveUrl(srv), {
    cookie: `dc_session=${c.token}`,
    origin: `https://${host}`,
    'x-forwarded-proto': 'https',
  });
  await live.next((m) => m.event === 'hello');
  live.ws.close();
});
