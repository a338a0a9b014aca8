// Issue 3 §2: the REST API (docs/api.md) against a real dcalld and real calls.
import { before, after } from 'node:test';
import {
  Scope,
  itest,
  assert,
  rest,
  mintToken,
  decodeJwt,
  verifyHs256,
  offlineToken,
  rawAnsweredCall,
  waitEnded,
  getCall,
  listCalls,
  uniqCuid,
  sleep,
  waitUntil,
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

function assertError(r, status, code, field) {
  assert.equal(r.status, status, `HTTP ${status} expected, got ${r.status} ${r.text}`);
  assert.equal(r.json?.error?.code, code, `error code ${code}: ${r.text}`);
  assert.equal(typeof r.json.error.message, 'string');
  if (field) assert.match(r.json.error.message, new RegExp(`\\b${field}\\b`), `message names the field ${field}`);
}

// An ended call of a given kind, made over raw ws; returns its id. Each call has fresh users, so
// the per-user rate limit is never reached.
async function makeCall(h, kind) {
  const a = await h.ws(srv, (await h.user(srv, acct, 'ra')).token, { name: `a-${kind}` });
  const ub = await h.user(srv, acct, 'rb');
  if (kind === 'unreachable') {
    const o = await a.request({ type: 'place', client_call_id: 'x1', to: ub.cuid, context: kind }, 'outgoing');
    await a.next('ended', (m) => m.call_id === o.call_id);
    a.close();
    return o.call_id;
  }
  const b = await h.ws(srv, ub.token, { name: `b-${kind}` });
  let id;
  if (kind === 'completed') {
    id = await rawAnsweredCall(a, b, ub.cuid, kind);
    await sleep(20);
    a.send({ type: 'hangup', call_id: id });
  } else {
    const o = await a.request({ type: 'place', client_call_id: 'x1', to: ub.cuid, context: kind }, 'outgoing');
    id = o.call_id;
    await b.next('incoming', (m) => m.call_id === id);
    if (kind === 'declined') b.send({ type: 'decline', call_id: id });
    else a.send({ type: 'cancel', call_id: id });
  }
  await a.next('ended', (m) => m.call_id === id);
  a.close();
  b.close();
  return id;
}

itest(
  'auth comes first: missing or wrong credentials -> 401 with WWW-Authenticate, even with bad input',
  async () => {
    for (const auth of [undefined, [acct.account_id, 'sk_wrong'], ['acc_nobody', acct.api_secret]]) {
      const r = await rest(srv, 'POST', '/v1/tokens', { auth, body: { cuid: '91_8899555' } });
      assertError(r, 401, 'unauthorized');
      assert.match(r.headers.get('www-authenticate') || '', /^Basic realm="dcall"/);
    }
    assertError(await rest(srv, 'GET', '/v1/calls/c_nope'), 401, 'unauthorized');
    assertError(await rest(srv, 'GET', '/v1/calls/c_nope', { auth: acct }), 404, 'not_found');
  },
  opt,
);

itest(
  'tokens: claims, signature with the api_secret, ttl default and bounds, input errors',
  async () => {
    const cuid = uniqCuid('rider');
    const r = await rest(srv, 'POST', '/v1/tokens', {
      auth: acct,
      body: { cuid, name: 'Asha', ttl: 120, callees: ['driver_7'] },
    });
    assert.equal(r.status, 201, r.text);
    const { header, claims } = decodeJwt(r.json.token);
    assert.equal(header.alg, 'HS256');
    assert.equal(claims.acc, acct.account_id);
    assert.equal(claims.sub, cuid);
    assert.equal(claims.name, 'Asha');
    assert.deepEqual(claims.callees, ['driver_7']);
    assert.equal(claims.exp - claims.iat, 120);
    assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 10, 'iat is now');
    assert.ok(verifyHs256(r.json.token, acct.api_secret), 'HMAC key is the api_secret string');
    assert.equal(Date.parse(r.json.expires_at), claims.exp * 1000, 'expires_at matches exp');

    const d = await rest(srv, 'POST', '/v1/tokens', { auth: acct, body: { cuid } });
    assert.equal(d.status, 201);
    const dc = decodeJwt(d.json.token).claims;
    assert.equal(dc.exp - dc.iat, 3600, 'default ttl 3600');
    assert.equal(dc.callees, undefined, 'no callees claim unless asked');

    for (const ttl of [60, 86400]) {
      assert.equal((await rest(srv, 'POST', '/v1/tokens', { auth: acct, body: { cuid, ttl } })).status, 201, `ttl ${ttl} ok`);
    }
    for (const ttl of [59, 86401, 0, -5, 1.5]) {
      assertError(await rest(srv, 'POST', '/v1/tokens', { auth: acct, body: { cuid, ttl } }), 400, 'invalid_ttl', 'ttl');
    }
    assertError(await rest(srv, 'POST', '/v1/tokens', { auth: acct, body: { cuid: '91_8899555' } }), 400, 'invalid_cuid', 'cuid');
    assertError(await rest(srv, 'POST', '/v1/tokens', { auth: acct, body: { cuid, name: 'ab' } }), 400, 'invalid_name', 'name');
    assertError(
      await rest(srv, 'POST', '/v1/tokens', { auth: acct, body: { cuid, callees: ['ok_user1', 'a__b'] } }),
      400,
      'invalid_cuid',
      'callees',
    );
    const missing = await rest(srv, 'POST', '/v1/tokens', { auth: acct, body: { name: 'Asha' } });
    assert.equal(missing.status, 400);
    assert.ok(['invalid_field', 'invalid_cuid'].includes(missing.json?.error?.code), missing.text);
    assert.match(missing.json.error.message, /\bcuid\b/);
    assertError(await rest(srv, 'POST', '/v1/tokens', { auth: acct, rawBody: '{"cuid":' }), 400, 'invalid_json');
  },
  opt,
);

itest(
  'a token minted offline with the api_secret signs in over ws',
  async (h) => {
    const cuid = uniqCuid('offline');
    const c = await h.ws(srv, offlineToken(acct, cuid, { name: 'Offline User' }));
    assert.equal(c.registered.cuid, cuid);
    assert.equal(c.registered.account_id, acct.account_id);
    assert.equal(c.registered.name, 'Offline User');
  },
  opt,
);

itest(
  'calls: get, list filters, newest first, cursor paging, input errors',
  async (h) => {
    const ids = [];
    for (const kind of ['completed', 'declined', 'cancelled', 'unreachable', 'unreachable']) {
      ids.push({ id: await makeCall(h, kind), kind });
      await sleep(15); // distinct created_at
    }
    for (const { id, kind } of ids) {
      const c = await waitEnded(srv, acct, id);
      assert.equal(c.id, id);
      assert.equal(c.reason, kind);
      for (const f of ['caller', 'callee', 'context', 'created_at', 'ended_at', 'duration_ms', 'detail', 'ended_by']) {
        assert.ok(f in c, `call has ${f}`);
      }
      assert.equal(c.context, kind);
    }
    const all = (await listCalls(srv, acct, 'limit=1000')).calls;
    const mine = all.filter((c) => ids.some((x) => x.id === c.id));
    assert.equal(mine.length, ids.length);
    const created = all.map((c) => Date.parse(c.created_at));
    assert.deepEqual(created, [...created].sort((x, y) => y - x), 'newest first');

    const unr = (await listCalls(srv, acct, 'status=unreachable&limit=1000')).calls;
    assert.ok(unr.length >= 2 && unr.every((c) => c.reason === 'unreachable'), 'status filter');
    const comp = ids.find((x) => x.kind === 'completed').id;
    const rec = await getCall(srv, acct, comp);
    const byCuid = (await listCalls(srv, acct, `cuid=${rec.callee}`)).calls;
    assert.deepEqual(byCuid.map((c) => c.id), [comp], 'cuid filter matches callee');
    const byCaller = (await listCalls(srv, acct, `cuid=${rec.caller}`)).calls;
    assert.deepEqual(byCaller.map((c) => c.id), [comp], 'cuid filter matches caller');
    const future = new Date(Date.now() + 3600e3).toISOString();
    assert.equal((await listCalls(srv, acct, `from=${future}`)).calls.length, 0, 'from filter');
    const past = new Date(Date.now() - 3600e3).toISOString();
    assert.equal((await listCalls(srv, acct, `to=${past}`)).calls.length, 0, 'to filter');

    // Paging: limit 2 through the whole list, no repeats, same order as one big page.
    const seen = [];
    let cursor = null;
    for (let i = 0; i < 50; i++) {
      const page = await listCalls(srv, acct, `limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.ok(page.calls.length <= 2);
      seen.push(...page.calls.map((c) => c.id));
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    assert.deepEqual(seen, all.map((c) => c.id), 'cursor paging walks the whole list once');

    const q = (s) => rest(srv, 'GET', `/v1/calls?${s}`, { auth: acct });
    assertError(await q('limit=0'), 400, 'invalid_limit', 'limit');
    assertError(await q('limit=1001'), 400, 'invalid_limit', 'limit');
    assertError(await q('status=exploded'), 400, 'invalid_status', 'status');
    assertError(await q('from=yesterday'), 400, 'invalid_time', 'from');
    assertError(await q('cursor=garbage!!'), 400, 'invalid_cursor', 'cursor');
    assertError(await q('cuid=91_8899555'), 400, 'invalid_cuid', 'cuid');
    assertError(await rest(srv, 'GET', '/v1/calls/c_doesnotexist', { auth: acct }), 404, 'not_found');
  },
  { ...opt, timeout: 60000 },
);

itest(
  'DELETE /v1/calls/{id}: answered -> completed, ringing -> cancelled, detail ended_by_api; ended -> 409',
  async (h) => {
    const ua = await h.user(srv, acct, 'alice');
    const ub = await h.user(srv, acct, 'bob');
    const a = await h.ws(srv, ua.token, { name: 'alice' });
    const b = await h.ws(srv, ub.token, { name: 'bob' });
    const id = await rawAnsweredCall(a, b, ub.cuid);
    const r = await rest(srv, 'DELETE', `/v1/calls/${id}`, { auth: acct });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.reason, 'completed');
    assert.equal(r.json.detail, 'ended_by_api');
    assert.equal(r.json.state, 'ended');
    for (const c of [a, b]) {
      const e = await c.next('ended', (m) => m.call_id === id);
      assert.equal(e.reason, 'completed');
      assert.equal(e.detail, 'ended_by_api');
    }
    assertError(await rest(srv, 'DELETE', `/v1/calls/${id}`, { auth: acct }), 409, 'invalid_state');

    const o = await a.request({ type: 'place', client_call_id: 'del-2', to: ub.cuid, context: 'ring' }, 'outgoing');
    await b.next('incoming', (m) => m.call_id === o.call_id);
    const r2 = await rest(srv, 'DELETE', `/v1/calls/${o.call_id}`, { auth: acct });
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json.reason, 'cancelled');
    assert.equal(r2.json.detail, 'ended_by_api');
    assert.equal((await b.next('ended', (m) => m.call_id === o.call_id)).reason, 'cancelled');
    assertError(await rest(srv, 'DELETE', '/v1/calls/c_doesnotexist', { auth: acct }), 404, 'not_found');
  },
  opt,
);

itest(
  'stats: totals and buckets match the records; tz=Asia/Kolkata buckets; range_too_long; input errors',
  async (h) => {
    const acct2 = await h.account(srv, 'Stats Co');
    const mk = async (kind) => {
      const a = await h.ws(srv, (await h.user(srv, acct2, 'sa')).token);
      const ub = await h.user(srv, acct2, 'sb');
      if (kind === 'unreachable') {
        const o = await a.request({ type: 'place', client_call_id: 's1', to: ub.cuid, context: 's' }, 'outgoing');
        await a.next('ended', (m) => m.call_id === o.call_id);
        return;
      }
      const b = await h.ws(srv, ub.token);
      const id = await rawAnsweredCall(a, b, ub.cuid);
      if (kind === 'completed') {
        a.send({ type: 'hangup', call_id: id });
        await a.next('ended', (m) => m.call_id === id);
      }
      return id;
    };
    await mk('completed');
    await mk('completed');
    await mk('unreachable');
    const live = await mk('ongoing'); // not ended: not counted
    assert.equal((await getCall(srv, acct2, live)).state, 'ongoing');

    const now = Date.now();
    const from = new Date(now - 3 * 3600e3).toISOString();
    const to = new Date(now + 3600e3).toISOString();
    const r = await rest(srv, 'GET', `/v1/stats?from=${from}&to=${to}&granularity=hour`, { auth: acct2 });
    assert.equal(r.status, 200, r.text);
    const zero = { completed: 0, declined: 0, missed: 0, cancelled: 0, busy: 0, unreachable: 0, network_loss: 0, failed: 0 };
    assert.deepEqual(r.json.totals, { ...zero, completed: 2, unreachable: 1 });
    assert.equal(r.json.granularity, 'hour');
    assert.equal(r.json.tz, 'UTC', 'default tz UTC');
    assert.ok(r.json.buckets.length >= 4 && r.json.buckets.length <= 5, `hour buckets for 4 h: ${r.json.buckets.length}`);
    const sum = (bs, k) => bs.reduce((s, b) => s + b[k], 0);
    for (const k of Object.keys(zero)) assert.equal(sum(r.json.buckets, k), r.json.totals[k], `buckets sum to totals (${k})`);
    for (const b of r.json.buckets) assert.match(b.start, /T\d\d:00:00(\.000)?Z$/, 'UTC hour buckets start on the hour');

    const kd = await rest(srv, 'GET', `/v1/stats?from=${new Date(now - 5 * 86400e3).toISOString()}&to=${to}&granularity=day&tz=Asia/Kolkata`, { auth: acct2 });
    assert.equal(kd.status, 200, kd.text);
    assert.equal(kd.json.tz, 'Asia/Kolkata');
    assert.ok(kd.json.buckets.length >= 5 && kd.json.buckets.length <= 7, 'a bucket per day, empty ones included');
    for (const b of kd.json.buckets) assert.match(b.start, /T18:30:00(\.000)?Z$/, `Kolkata midnight is 18:30Z (${b.start})`);
    assert.equal(sum(kd.json.buckets, 'completed'), 2);
    const kh = await rest(srv, 'GET', `/v1/stats?from=${from}&to=${to}&granularity=hour&tz=Asia/Kolkata`, { auth: acct2 });
    assert.equal(kh.status, 200, kh.text);
    for (const b of kh.json.buckets) assert.match(b.start, /T\d\d:30:00(\.000)?Z$/, `+05:30 hours start at :30Z (${b.start})`);
    assert.equal(sum(kh.json.buckets, 'completed'), 2);

    const st = (q) => rest(srv, 'GET', `/v1/stats?${q}`, { auth: acct2 });
    const d31 = new Date(now - 31 * 86400e3).toISOString();
    assertError(await st(`from=${d31}&to=${new Date(now).toISOString()}&granularity=day`), 400, 'range_too_long');
    assertError(await st('granularity=fortnight'), 400, 'invalid_granularity', 'granularity');
    assertError(await st('tz=Mars/Olympus'), 400, 'invalid_tz', 'tz');
    assertError(await st('from=notatime'), 400, 'invalid_time', 'from');
    const def = await st('');
    assert.equal(def.status, 200, def.text);
    assert.equal(def.json.granularity, 'hour', 'default granularity hour');
    assert.equal(Date.parse(def.json.to) - Date.parse(def.json.from), 86400e3, 'default range 24 h');
  },
  { ...opt, timeout: 60000 },
);

itest(
  'users: presence, in_call, missed list, invalid cuid',
  async (h) => {
    const ub = await h.user(srv, acct, 'bob');
    const ua = await h.user(srv, acct, 'alice');
    const off = await rest(srv, 'GET', `/v1/users/${ub.cuid}`, { auth: acct });
    assert.equal(off.status, 200, off.text);
    assert.deepEqual(
      { online: off.json.online, devices: off.json.devices, in_call: off.json.in_call },
      { online: false, devices: 0, in_call: false },
    );
    const b1 = await h.ws(srv, ub.token, { name: 'b1' });
    await h.ws(srv, ub.token, { name: 'b2' });
    const on = await rest(srv, 'GET', `/v1/users/${ub.cuid}`, { auth: acct });
    assert.equal(on.json.cuid, ub.cuid);
    assert.equal(on.json.online, true);
    assert.equal(on.json.devices, 2);
    assert.equal(on.json.in_call, false);
    assert.equal(on.json.call_id, null);
    const a = await h.ws(srv, ua.token, { name: 'a' });
    const id = await rawAnsweredCall(a, b1, ub.cuid);
    const ic = await rest(srv, 'GET', `/v1/users/${ub.cuid}`, { auth: acct });
    assert.equal(ic.json.in_call, true);
    assert.equal(ic.json.call_id, id);
    a.send({ type: 'hangup', call_id: id });
    await a.next('ended', (m) => m.call_id === id);

    // Missed list for a user who was offline.
    const uc = await h.user(srv, acct, 'carol');
    const o = await a.request({ type: 'place', client_call_id: 'm1', to: uc.cuid, context: 'Call me back' }, 'outgoing');
    await a.next('ended', (m) => m.call_id === o.call_id);
    const ml = await rest(srv, 'GET', `/v1/users/${uc.cuid}/missed`, { auth: acct });
    assert.equal(ml.status, 200, ml.text);
    assert.equal(ml.json.missed.length, 1);
    assert.equal(ml.json.missed[0].call_id, o.call_id);
    assert.equal(ml.json.missed[0].from.cuid, ua.cuid);
    assert.equal(ml.json.missed[0].context, 'Call me back');
    assert.ok(!Number.isNaN(Date.parse(ml.json.missed[0].at)));

    assertError(await rest(srv, 'GET', '/v1/users/91_8899555', { auth: acct }), 400, 'invalid_cuid', 'cuid');
  },
  opt,
);

itest(
  'DELETE /v1/users/{cuid}/sessions: the CLI is logged out and exits non-zero; old tokens get token_revoked',
  async (h) => {
    const cuid = uniqCuid('logout');
    const token = await mintToken(srv, acct, { cuid });
    const u = { cuid, token };
    const l = h.listen(srv, u, ['--no-answer']);
    await l.waitFor('registered');
    await sleep(1100); // tokens carry iat in whole seconds: make "issued before now" unambiguous
    const r = await rest(srv, 'DELETE', `/v1/users/${cuid}/sessions`, { auth: acct });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.closed, 1);
    const ex = await l.exit(15000);
    assert.notEqual(ex.code, 0, 'logged-out CLI exits non-zero');
    assert.ok(l.all('error').length >= 1, 'the CLI prints an error event');
    const off = await rest(srv, 'GET', `/v1/users/${cuid}`, { auth: acct });
    assert.equal(off.json.online, false);

    const c = await h.ws(srv, null, { name: 'old-token' });
    await assert.rejects(c.hello({ token }), (e) => e.msg?.code === 'token_revoked');
    const closed = await c.waitClosed();
    await sleep(1100);
    const fresh = await mintToken(srv, acct, { cuid });
    const c2 = await h.ws(srv, fresh, { name: 'new-token' });
    assert.equal(c2.registered.cuid, cuid, 'a token minted after the logout works');
    assert.equal(closed.code, 4001, 'the refused sign-in is closed with 4001');
  },
  opt,
);

itest(
  'branding: GET defaults, PUT validation, and the branding event reaching a connected CLI and ws',
  async (h) => {
    const acct3 = await h.account(srv, 'Brand Co');
    const g = await rest(srv, 'GET', '/v1/branding', { auth: acct3 });
    assert.equal(g.status, 200);
    assert.deepEqual(g.json, { logo_url: null, background_color: '#FFFFFF', text_color: '#000000', button_theme: 'default' });
    const cuid = uniqCuid('brand');
    const u = { cuid, token: await mintToken(srv, acct3, { cuid }) };
    const l = h.listen(srv, u, ['--no-answer']);
    const first = await l.waitFor('branding', () => true, 8000);
    const bgOf = (e) => e.branding?.background_color ?? e.background_color;
    assert.equal(bgOf(first), '#FFFFFF', 'branding sent at sign-in');
    const w = await h.ws(srv, u.token, { name: 'ws' });
    await w.next('branding');

    const put = (body) => rest(srv, 'PUT', '/v1/branding', { auth: acct3, body });
    assertError(await put({ background_color: '#12345' }), 400, 'invalid_color', 'background_color');
    assertError(await put({ text_color: 'red' }), 400, 'invalid_color', 'text_color');
    assertError(await put({ button_theme: 'blue' }), 400, 'invalid_button_theme', 'button_theme');
    assertError(await put({ logo_url: 'ftp://example.com/x.png' }), 400, 'invalid_url', 'logo_url');
    assert.deepEqual((await rest(srv, 'GET', '/v1/branding', { auth: acct3 })).json.background_color, '#FFFFFF', 'a refused PUT changes nothing');

    const p = await put({ background_color: '#112233', button_theme: 'white', logo_url: 'https://cdn.example.com/logo.png' });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual(p.json, {
      logo_url: 'https://cdn.example.com/logo.png',
      background_color: '#112233',
      text_color: '#000000',
      button_theme: 'white',
    });
    const pushed = await l.waitFor('branding', (e) => bgOf(e) === '#112233', 5000);
    assert.equal(pushed.branding?.button_theme ?? pushed.button_theme, 'white');
    const wm = await w.next('branding', (m) => m.branding?.background_color === '#112233');
    assert.equal(wm.branding.logo_url, 'https://cdn.example.com/logo.png');
    const cleared = await put({ logo_url: null });
    assert.equal(cleared.json.logo_url, null);
    // Another account's devices are not told.
    const other = await h.ws(srv, (await h.user(srv, acct, 'other')).token, { name: 'other-acct' });
    await other.next('branding');
    await put({ text_color: '#445566' });
    await w.next('branding', (m) => m.branding?.text_color === '#445566');
    await sleep(200);
    assert.equal(other.all('branding').length, 1, 'no branding event crosses accounts');
  },
  opt,
);

itest(
  'settings: per-account ring timeout overrides the server default; webhook secret shown once',
  async (h) => {
    const acct4 = await h.account(srv, 'Settings Co');
    const g = await rest(srv, 'GET', '/v1/settings', { auth: acct4 });
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.api_key, acct4.api_key);
    assert.equal(g.json.webhook_url, null);
    assert.equal(g.json.dev_key_auth, false);
    assert.ok(!JSON.stringify(g.json).includes(acct4.api_secret), 'settings never show the api_secret');
    const put = (body) => rest(srv, 'PUT', '/v1/settings', { auth: acct4, body });
    for (const v of [9, 121, 30.5]) {
      assertError(await put({ ring_timeout_s: v }), 400, 'invalid_ring_timeout', 'ring_timeout_s');
    }
    assertError(await put({ webhook_url: 'not a url' }), 400, 'invalid_url', 'webhook_url');
    assertError(await put({ webhook_events: ['call.exploded'] }), 400, 'invalid_events', 'webhook_events');

    const p = await put({ ring_timeout_s: 10 });
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json.ring_timeout_s, 10);
    assert.equal((await rest(srv, 'GET', '/v1/settings', { auth: acct4 })).json.ring_timeout_s, 10);

    // Registered reports the effective timeout: 10 for this account, the server's 30 for others.
    const ua = await h.user(srv, acct4, 'alice');
    const ub = await h.user(srv, acct4, 'bob');
    const a = await h.ws(srv, ua.token, { name: 'a' });
    assert.equal(a.registered.ring_timeout_s, 10);
    const other = await h.ws(srv, (await h.user(srv, acct, 'o')).token, { name: 'other' });
    assert.equal(other.registered.ring_timeout_s, 30, 'other accounts keep the server default');
    const b = await h.ws(srv, ub.token, { name: 'b' });
    const t0 = Date.now();
    const o = await a.request({ type: 'place', client_call_id: 'rt', to: ub.cuid, context: 'ring' }, 'outgoing');
    await b.next('incoming', (m) => m.call_id === o.call_id);
    await a.next('missed', (m) => m.call_id === o.call_id, 20000);
    const waited = Date.now() - t0;
    assert.ok(waited >= 9000 && waited < 16000, `missed after the account's 10 s, not the server's 30 s (${waited} ms)`);

    const w1 = await put({ webhook_url: 'http://127.0.0.1:9/hook', webhook_events: ['call.ended'] });
    assert.equal(w1.status, 200, w1.text);
    assert.equal(typeof w1.json.webhook_secret, 'string', 'secret shown the first time');
    assert.ok(w1.json.webhook_secret.length >= 16);
    const g2 = await rest(srv, 'GET', '/v1/settings', { auth: acct4 });
    assert.equal(g2.json.webhook_secret, undefined, 'never shown by GET');
    assert.ok(!g2.text.includes(w1.json.webhook_secret));
    assert.deepEqual(g2.json.webhook_events, ['call.ended']);
    const w2 = await put({ webhook_url: 'http://127.0.0.1:9/hook2' });
    assert.equal(w2.json.webhook_secret, undefined, 'not shown again on a later change');
    const w3 = await put({ rotate_webhook_secret: true });
    assert.equal(typeof w3.json.webhook_secret, 'string', 'rotation shows the new one');
    assert.notEqual(w3.json.webhook_secret, w1.json.webhook_secret);
    const back = await put({ ring_timeout_s: null });
    assert.equal(back.status, 200, back.text);
    const a2 = await h.ws(srv, ua.token, { name: 'a2' });
    assert.equal(a2.registered.ring_timeout_s, 30, 'null restores the server default');
  },
  { ...opt, timeout: 60000 },
);

itest(
  '/healthz and /metrics',
  async (h) => {
    const hz = await rest(srv, 'GET', '/healthz');
    assert.equal(hz.status, 200);
    assert.deepEqual(hz.json, { status: 'ok' });
    const metric = (text, name) => {
      const m = new RegExp(`^${name}\\s+([0-9.e+]+)$`, 'm').exec(text);
      return m ? Number(m[1]) : null;
    };
    const m0 = await rest(srv, 'GET', '/metrics');
    assert.equal(m0.status, 200);
    assert.match(m0.headers.get('content-type') || '', /^text\/plain/);
    for (const n of ['dcall_connections', 'dcall_sessions', 'dcall_calls_placed_total', 'dcall_outbox_depth']) {
      assert.notEqual(metric(m0.text, n), null, `${n} present`);
    }
    assert.match(m0.text, /^dcall_calls\{state="ringing"\} \d+$/m);
    assert.match(m0.text, /^dcall_calls\{state="ongoing"\} \d+$/m);
    const placed0 = metric(m0.text, 'dcall_calls_placed_total');
    const conns0 = metric(m0.text, 'dcall_connections');

    const ua = await h.user(srv, acct, 'ma');
    const ub = await h.user(srv, acct, 'mb');
    const a = await h.ws(srv, ua.token);
    const b = await h.ws(srv, ub.token);
    const id = await rawAnsweredCall(a, b, ub.cuid);
    const m1 = (await rest(srv, 'GET', '/metrics')).text;
    assert.ok(metric(m1, 'dcall_connections') >= conns0 + 2, 'connections counted');
    assert.ok(metric(m1, 'dcall_calls_placed_total') >= placed0 + 1, 'placed counted');
    assert.ok(Number(/^dcall_calls\{state="ongoing"\} (\d+)$/m.exec(m1)[1]) >= 1, 'ongoing call counted');
    a.send({ type: 'hangup', call_id: id });
    await a.next('ended');
    await waitUntil(async () => /^dcall_calls_ended_total\{reason="completed"\} [1-9]\d*$/m.test((await rest(srv, 'GET', '/metrics')).text), {
      what: 'ended_total{reason="completed"} >= 1',
    });
  },
  opt,
);
