// Issue 3 §5: bad input over the WebSocket. Each gets the precise error of docs/protocol.md and the
// server keeps serving (healthz 200 and a new call works) afterwards.
import { before, after } from 'node:test';
import {
  Scope,
  itest,
  assert,
  assertServes,
  signJwt,
  unsignedJwt,
  offlineToken,
  rest,
  uniqCuid,
  sleep,
} from './lib/index.mjs';

const S = new Scope();
let srv;
let acct;
let acctB;
const opt = { parent: S };

before(async () => {
  srv = await S.startServer({ ringTimeout: 30 });
  [acct, acctB] = await Promise.all([S.account(srv, 'Acme Rides'), S.account(srv, 'Other Co')]);
});
after(() => S.cleanup());

// A signed-in raw client of a fresh user.
async function signedIn(h, name) {
  const u = await h.user(srv, acct, name);
  const c = await h.ws(srv, u.token, { name });
  return { u, c };
}

// Sends msg with a ref and returns the error about it.
async function errorFor(c, msg, ref = `r${Math.random().toString(36).slice(2, 8)}`) {
  c.send(typeof msg === 'string' ? msg : { ...msg, ref });
  const e = await c.next('error', (m) => typeof msg === 'string' || m.ref === ref, 5000);
  if (typeof msg !== 'string') assert.equal(e.ref, ref, 'the error echoes the ref');
  assert.equal(typeof e.message, 'string');
  return e;
}

function assertFieldError(e, code, field) {
  assert.equal(e.code, code, `code ${code}: ${JSON.stringify(e)}`);
  assert.equal(e.field, field, `field ${field}`);
  assert.match(e.message, new RegExp(`^${field}\\b`), `message names the field first: ${e.message}`);
  assert.ok(e.message.includes(code), `message carries the code: ${e.message}`);
}

async function stillOpen(c) {
  c.send({ type: 'ping' });
  await c.next('pong', () => true, 3000);
}

itest(
  'malformed JSON and non-object JSON -> invalid_json; the connection stays usable',
  async (h) => {
    const { c } = await signedIn(h, 'mal');
    for (const bad of ['{not json', '[1,2,3]', '"hello"', '']) {
      const e = await errorFor(c, bad);
      assert.equal(e.code, 'invalid_json', `for ${JSON.stringify(bad)}`);
    }
    await stillOpen(c);
    await assertServes(h, srv, acct);
  },
  opt,
);

itest(
  'unknown or missing type -> unknown_type / invalid_field, ref echoed',
  async (h) => {
    const { c } = await signedIn(h, 'unk');
    const e = await errorFor(c, { type: 'frobnicate' });
    assert.equal(e.code, 'unknown_type');
    const e2 = await errorFor(c, { type: 42 });
    assert.ok(['unknown_type', 'invalid_field'].includes(e2.code), JSON.stringify(e2));
    await stillOpen(c);
    await assertServes(h, srv, acct);
  },
  opt,
);

itest(
  'a message over 64 KiB -> message_too_large then close 1009; 64,000 bytes is fine',
  async (h) => {
    const { c } = await signedIn(h, 'big');
    const okMsg = JSON.stringify({ type: 'ping', pad: 'x'.repeat(64000 - 30) });
    assert.ok(okMsg.length <= 65536);
    c.send(okMsg);
    await c.next('pong', () => true, 3000);

    c.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(70000) }));
    const close = await c.waitClosed(5000);
    const e = c.all('error').find((m) => m.code === 'message_too_large');
    assert.ok(e, 'error message_too_large before the close');
    await assertServes(h, srv, acct);
    assert.equal(close.code, 1009, `closed with 1009, got ${JSON.stringify(close)}`);
  },
  opt,
);

itest(
  'invalid place fields: each with its exact code and a message naming the field',
  async (h) => {
    const { u, c } = await signedIn(h, 'val');
    const to = uniqCuid('callee');
    const base = { type: 'place', client_call_id: 'v-1', to, context: 'ctx' };
    const cases = [
      [{ to: '91_8899555' }, 'invalid_cuid', 'to'],
      [{ to: 'abcd' }, 'invalid_cuid', 'to'],
      [{ to: 'ab__cd1' }, 'invalid_cuid', 'to'],
      [{ to: 'x'.repeat(51) }, 'invalid_cuid', 'to'],
      [{ to: 'bad-cuid' }, 'invalid_cuid', 'to'],
      [{ context: '' }, 'invalid_context', 'context'],
      [{ context: 'c'.repeat(65) }, 'invalid_context', 'context'],
      [{ remote_context: 'r'.repeat(65) }, 'invalid_context', 'remote_context'],
      [{ caller_image: 'javascript:alert(1)' }, 'invalid_url', 'caller_image'],
      [{ callee_image: 'https://x/' + 'a'.repeat(2100) }, 'invalid_url', 'callee_image'],
      [{ client_call_id: 'has space' }, 'invalid_id', 'client_call_id'],
      [{ client_call_id: 'i'.repeat(65) }, 'invalid_id', 'client_call_id'],
      [{ to: 42 }, 'invalid_field', 'to'],
      [{ to: undefined }, 'invalid_field', 'to'],
      [{ context: undefined }, 'invalid_field', 'context'],
    ];
    // Collect every mismatch so that one run reports them all.
    const wrong = [];
    for (const [patch, code, field] of cases) {
      const e = await errorFor(c, { ...base, ...patch });
      try {
        assertFieldError(e, code, field);
      } catch (err) {
        wrong.push(`${JSON.stringify(patch).slice(0, 60)} -> ${e.code}/${e.field}: ${e.message} (want ${code}/${field})`);
      }
    }
    assert.deepEqual(wrong, [], 'each invalid field gets its exact code and names the field');
    const self = await errorFor(c, { ...base, to: u.cuid });
    assert.equal(self.code, 'invalid_callee', 'calling yourself');
    for (const type of ['answer', 'decline', 'cancel', 'hangup']) {
      const nf = await errorFor(c, { type, call_id: 'c_doesnotexist' });
      assert.equal(nf.code, 'not_found', `${type} of an unknown call`);
      const bad = await errorFor(c, { type, call_id: 'bad id!' });
      assertFieldError(bad, 'invalid_id', 'call_id');
    }
    // 64 code points of a multi-byte script is a valid context (characters, not bytes).
    const ok = await c.request({ ...base, client_call_id: 'v-ok', context: 'ह'.repeat(64) }, 'outgoing');
    assert.equal(ok.type, 'outgoing', JSON.stringify(ok));
    await c.next('ended', (m) => m.call_id === ok.call_id);
    assert.equal((await rest(srv, 'GET', `/v1/calls?cuid=${to}`, { auth: acct })).json.calls.length, 1, 'only the valid place made a record');
    await stillOpen(c);
    await assertServes(h, srv, acct);
  },
  opt,
);

itest(
  'protocol order: a message before hello and a second hello -> protocol_error',
  async (h) => {
    const c = await h.ws(srv, null, { name: 'early' });
    c.send({ type: 'place', to: 'someone_1', context: 'x', client_call_id: 'e1' });
    const e = await c.next('error');
    assert.equal(e.code, 'protocol_error');
    const { u, c: c2 } = await signedIn(h, 'twice');
    const e2 = await errorFor(c2, { type: 'hello', v: 1, token: u.token });
    assert.equal(e2.code, 'protocol_error');
    await assertServes(h, srv, acct);
  },
  opt,
);

// Signs in with token; returns a list of what differs from "error <code>, then close 4001".
async function refusal(h, token, code, name, hello = {}) {
  const c = await h.ws(srv, null, { name });
  c.send({ type: 'hello', v: 1, token, ...hello });
  const bad = [];
  const e = await c.next(null, (m) => m.type === 'error' || m.type === 'registered', 5000).catch((x) => ({ type: 'none', x }));
  if (e.type !== 'error' || e.code !== code) bad.push(`${name}: want error ${code}, got ${e.type} ${e.code ?? ''}`);
  const close = await c.waitClosed().catch(() => ({ code: 'not closed' }));
  if (close.code !== 4001) bad.push(`${name}: want close 4001, got ${close.code}`);
  return bad;
}

itest(
  'bad tokens: forged, expired, another account, alg none, too long-lived, garbage, wrong account id',
  async (h) => {
    const cuid = uniqCuid('tok');
    const now = Math.floor(Date.now() / 1000);
    const claims = { acc: acct.account_id, sub: cuid, iat: now, exp: now + 3600 };
    const cases = [
      [offlineToken(acct, cuid, {}, 'sk_not_the_secret'), 'invalid_token', 'forged'],
      [offlineToken(acct, cuid, { iat: now - 7200, exp: now - 3600 }), 'token_expired', 'expired'],
      // Claims account A, signed with account B's secret.
      [offlineToken(acct, cuid, {}, acctB.api_secret), 'invalid_token', 'other-account-key'],
      [unsignedJwt(claims), 'invalid_token', 'alg-none'],
      [signJwt(claims, acct.api_secret, { alg: 'HS512', typ: 'JWT' }), 'invalid_token', 'alg-hs512'],
      [offlineToken(acct, cuid, { iat: now, exp: now + 3 * 86400 }), 'invalid_token', 'lifetime-3d'],
      ['not.a.jwt', 'invalid_token', 'garbage'],
      [offlineToken({ ...acct, account_id: 'acc_doesnotexist' }, cuid), 'invalid_token', 'unknown-acc'],
    ];
    const bad = [];
    for (const [token, code, name] of cases) bad.push(...(await refusal(h, token, code, name)));
    assert.deepEqual(bad, [], 'each bad token gets its error and close 4001');
    await assertServes(h, srv, acct);
  },
  opt,
);

itest(
  'Account ID + API key sign-in: off by default (auth_mode_disabled), then works; bad key and bad name refused',
  async (h) => {
    const acctC = await h.account(srv, 'Dev Co');
    const cuid = uniqCuid('dev');
    const hello = { account_id: acctC.account_id, api_key: acctC.api_key, cuid, name: 'Dev User' };
    const c = await h.ws(srv, null, { name: 'dev-off' });
    c.send({ type: 'hello', v: 1, ...hello });
    assert.equal((await c.next('error')).code, 'auth_mode_disabled');
    const closes = [(await c.waitClosed()).code];

    const r = await rest(srv, 'PUT', '/v1/settings', { auth: acctC, body: { dev_key_auth: true } });
    assert.equal(r.status, 200, r.text);
    const ok = await h.ws(srv, null, { name: 'dev-on' });
    const reg = await ok.hello(hello);
    assert.equal(reg.cuid, cuid);
    assert.equal(reg.account_id, acctC.account_id);

    const badKey = await h.ws(srv, null, { name: 'dev-badkey' });
    badKey.send({ type: 'hello', v: 1, ...hello, api_key: 'key_wrong' });
    assert.equal((await badKey.next('error')).code, 'unauthorized');
    closes.push((await badKey.waitClosed()).code);
    const badName = await h.ws(srv, null, { name: 'dev-badname' });
    badName.send({ type: 'hello', v: 1, ...hello, name: 'ab' });
    const en = await badName.next('error');
    assertFieldError(en, 'invalid_name', 'name');
    const badCuid = await h.ws(srv, null, { name: 'dev-badcuid' });
    badCuid.send({ type: 'hello', v: 1, ...hello, cuid: '91_8899555' });
    assertFieldError(await badCuid.next('error'), 'invalid_cuid', 'cuid');
    assert.deepEqual(closes, [4001, 4001], 'refused sign-ins are closed with 4001');
    await assertServes(h, srv, acct);
  },
  opt,
);

itest(
  'hello without credentials is refused and closed',
  async (h) => {
    const c = await h.ws(srv, null, { name: 'nocreds' });
    c.send({ type: 'hello', v: 1 });
    const e = await c.next('error');
    assert.ok(['invalid_field', 'invalid_token', 'unauthorized'].includes(e.code), JSON.stringify(e));
    const close = await c.waitClosed();
    assert.equal(close.code, 4001);
    await sleep(50);
    await assertServes(h, srv, acct);
  },
  opt,
);
