// WebSocket keepalive (docs/protocol.md "keepalive"): dcalld pings a socket after 15 s without a
// frame from it and closes one silent for 30 s (1001 keepalive_timeout). The intervals are
// shortened through DCALL_TEST_KEEPALIVE_MS (honoured with --test-mode only) to 2 s and 4 s, so
// these run in seconds of real time; the sweep visits every socket about once a second.
import WebSocket from 'ws';
import { itest, assert, rest, sleep, waitUntil, withTimeout } from './lib/index.mjs';

const PING_MS = 2000;
const HANGUP_MS = 4000;
const SWEEP_MS = 1200; // one pass of the sweep, with a tick to spare
process.env.DCALL_TEST_KEEPALIVE_MS = `${PING_MS},${HANGUP_MS}`; // inherited by the dcalld below

// A signed-in raw client that records the WebSocket pings it gets; autoPong false: it never
// answers them (the `ws` package answers by default, as browsers and the SDK do).
async function client(srv, token, { autoPong = true } = {}) {
  const ws = new WebSocket(srv.wsUrl, { autoPong, handshakeTimeout: 5000 });
  const c = { ws, pings: [], msgs: [], closeInfo: null };
  c.closed = new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve((c.closeInfo = { code, reason: reason.toString(), at: Date.now() }))),
  );
  ws.on('ping', () => c.pings.push(Date.now()));
  ws.on('message', (d) => c.msgs.push(JSON.parse(d.toString())));
  ws.on('error', () => {});
  await withTimeout(new Promise((r, j) => (ws.once('open', r), ws.once('error', j))), 5000, 'open');
  ws.send(JSON.stringify({ type: 'hello', v: 1, token }));
  await waitUntil(() => c.msgs.some((m) => m.type === 'registered'), { what: 'registered' });
  c.lastSent = Date.now();
  return c;
}

// Sends a protocol ping (a data frame) and waits for its pong; returns when it was sent.
async function pongOnce(c) {
  const before = c.msgs.filter((m) => m.type === 'pong').length;
  const at = Date.now();
  c.ws.send(JSON.stringify({ type: 'ping' }));
  await waitUntil(() => c.msgs.filter((m) => m.type === 'pong').length > before, { what: 'pong' });
  return at;
}

const connections = async (srv) => Number(/^dcall_connections (\d+)$/m.exec(await (await fetch(`${srv.url}/metrics`)).text())[1]);

itest('keepalive: an idle socket is pinged; one that answers nothing is closed 1001 keepalive_timeout', async (h) => {
  const srv = await h.startServer({ extraArgs: ['--no-media'] });
  const acct = await h.account(srv);
  const silent = await client(srv, (await h.user(srv, acct, 'kasilent')).token, { autoPong: false });
  const answer = await client(srv, (await h.user(srv, acct, 'kaanswer')).token);
  try {
    await sleep(PING_MS - 500);
    assert.equal(silent.pings.length + answer.pings.length, 0, 'no ping before the idle time');
    await waitUntil(() => silent.pings.length && answer.pings.length, { timeoutMs: SWEEP_MS + 1000, what: 'first pings' });
    assert.ok(silent.pings[0] - silent.lastSent >= PING_MS - 100, `pinged ${silent.pings[0] - silent.lastSent} ms after its last frame`);

    // a data frame counts as traffic: the silent socket's text resets its idle time
    const textAt = await pongOnce(silent);
    await sleep(PING_MS - 500);
    assert.equal(silent.pings.length, 1, 'one ping per idle spell, not one per sweep');
    const closed = await withTimeout(silent.closed, HANGUP_MS + SWEEP_MS + 1000, 'the silent socket to be closed');
    assert.equal(closed.code, 1001);
    assert.equal(closed.reason, 'keepalive_timeout');
    const silentFor = closed.at - textAt;
    assert.ok(silentFor >= HANGUP_MS - 100 && silentFor < HANGUP_MS + SWEEP_MS + 1000, `closed ${silentFor} ms after its last frame`);
    assert.equal(silent.pings.length, 2, 'pinged once more after its text, then closed');

    // the answering socket is pinged every idle spell, answers, and stays signed in
    await waitUntil(() => answer.pings.length >= 4, { timeoutMs: 4 * (PING_MS + SWEEP_MS), what: 'four pings to the answering socket' });
    assert.equal(answer.closeInfo, null, 'a socket that answers pings is never closed');
    await pongOnce(answer);
    assert.equal(await connections(srv), 1, 'the closed socket is gone from the count');
  } finally {
    silent.ws.terminate();
    answer.ws.terminate();
  }
});

itest('keepalive: a silent socket that reads nothing (no close reply) is dropped, not left open', async (h) => {
  const srv = await h.startServer({ extraArgs: ['--no-media'] });
  const acct = await h.account(srv);
  const c = await client(srv, (await h.user(srv, acct, 'kastuck')).token, { autoPong: false });
  try {
    c.ws.pause(); // reads nothing from here on: no pong, no close reply
    await sleep(HANGUP_MS);
    assert.equal(await connections(srv), 1);
    // the close frame goes out at the hang-up, then 2 s for a reply that never comes
    await waitUntil(async () => (await connections(srv)) === 0, { timeoutMs: SWEEP_MS + 2000 + 1500, what: 'dcalld to drop the socket' });
  } finally {
    c.ws.terminate();
  }
});

itest('keepalive: a socket closed while its reader is stuck (close frame cannot get out) is dropped', async (h) => {
  const srv = await h.startServer({ extraArgs: ['--no-media'] });
  const acct = await h.account(srv);
  const c = await client(srv, (await h.user(srv, acct, 'kafull')).token);
  try {
    c.ws.pause(); // reads nothing from here on; it keeps its socket open
    // fill the socket and then dcalld's 4 MiB send queue with branding events (about 2 KiB
    // each): the queue over its limit closes the socket 1008, behind data that never drains
    const logo = `https://example.com/${'l'.repeat(2000)}`;
    let closedAt = 0;
    for (let i = 0; i < 10000 && !closedAt; i++) {
      const r = await rest(srv, 'PUT', '/v1/branding', { auth: acct, body: { logo_url: `${logo}${i}` } });
      assert.equal(r.status, 200, r.text);
      if (i % 20 === 19 && /slow reader/.test(srv.log)) closedAt = Date.now();
    }
    assert.ok(closedAt, 'the send queue went over its limit');
    // the close frame gets the ping interval to go out, then lws's 1 s timeout ends the socket
    await waitUntil(async () => (await connections(srv)) === 0, { timeoutMs: PING_MS + SWEEP_MS + 1000 + 3000, what: 'dcalld to drop the stuck socket' });
  } finally {
    c.ws.terminate();
  }
}, { timeout: 120000 });
