// Call cycles between pairs of signed-in sessions, closed loop (as fast as the server goes) or
// open loop (a fixed rate), plus the same two drivers for the echo baseline.
//
// One cycle: caller `place` -> callee `incoming` -> callee `ringing` + `answer` -> caller
// `answered` -> caller `hangup` -> `ended` on both sides. The pair alternates who calls, so each
// user places half of its pair's calls (the server allows 10 places per user per minute).
import { sleep } from './proc.mjs';

const CYCLE_TIMEOUT_MS = 15000;

export class Pair {
  constructor(idx, a, b, stats) {
    this.idx = idx;
    this.a = a;
    this.b = b;
    this.stats = stats;
    this.dir = 0;
    this.n = 0;
    this.cycle = null;
    this.stopped = false;
    a.onEvent = (m, t) => this.on(a, m, t);
    b.onEvent = (m, t) => this.on(b, m, t);
  }

  start(onDone) {
    const caller = this.dir ? this.b : this.a;
    const callee = this.dir ? this.a : this.b;
    this.dir ^= 1;
    const cy = { caller, callee, onDone, t0: performance.now(), callId: null, reason: null };
    cy.timer = setTimeout(() => this.finish(cy, 'timeout'), CYCLE_TIMEOUT_MS);
    this.cycle = cy;
    cy.t0 = performance.now();
    caller.send({ type: 'place', ref: 'place', client_call_id: `p${this.idx}_${this.n++}`, to: callee.cuid, context: 'Bench call' });
  }

  on(sess, m, t) {
    const cy = this.cycle;
    if (m.type === 'error') {
      const k = `${m.code}${m.field ? `/${m.field}` : ''}`;
      this.stats.errors[k] = (this.stats.errors[k] || 0) + 1;
      if (cy && sess === cy.caller && m.ref === 'place') this.finish(cy, `error:${m.code}`);
      return;
    }
    if (!cy || (m.call_id && cy.callId && m.call_id !== cy.callId)) return;
    if (sess === cy.caller) {
      if (m.type === 'outgoing') {
        cy.callId = m.call_id;
        cy.tAck = t;
      } else if (m.type === 'answered') {
        sess.send({ type: 'hangup', call_id: m.call_id });
      } else if (m.type === 'ended') {
        cy.callerEnded = true;
        cy.reason = m.reason;
      }
    } else if (m.type === 'incoming') {
      cy.tIncoming = t;
      sess.send({ type: 'ringing', call_id: m.call_id });
      sess.send({ type: 'answer', call_id: m.call_id });
    } else if (m.type === 'ended') {
      cy.calleeEnded = true;
    }
    // A callee that never got `incoming` (busy, unreachable) gets no `ended` either.
    if (cy.callerEnded && (cy.calleeEnded || cy.tIncoming === undefined)) this.finish(cy, cy.reason);
  }

  finish(cy, outcome) {
    if (this.cycle !== cy) return;
    clearTimeout(cy.timer);
    this.cycle = null;
    cy.outcome = outcome;
    cy.tEnd = performance.now();
    if (outcome === 'error:rate_limited') this.stopped = true;
    cy.onDone(this, cy);
  }
}

function newStats() {
  return { errors: {}, outcomes: {}, placeToIncoming: [], placeToOutgoing: [], completedIds: [] };
}

function record(stats, cy, inWindow) {
  stats.outcomes[cy.outcome] = (stats.outcomes[cy.outcome] || 0) + 1;
  if (cy.outcome === 'completed') stats.completedIds.push(cy.callId);
  if (!inWindow) return;
  if (cy.tIncoming !== undefined) stats.placeToIncoming.push(cy.tIncoming - cy.t0);
  if (cy.tAck !== undefined) stats.placeToOutgoing.push(cy.tAck - cy.t0);
}

// Waits (bounded) until no pair has a cycle in flight.
async function drain(pairs, ms = CYCLE_TIMEOUT_MS + 2000) {
  const end = Date.now() + ms;
  while (pairs.some((p) => p.cycle) && Date.now() < end) await sleep(20);
}

// `inflight` cycles at a time, each started on the pair idle longest, as fast as the server lets
// them go for `seconds`; then the ones in flight finish. Many more pairs than `inflight` spread the
// places over many users, so no user comes near the per-user place limit.
export async function closedLoop(sessions, seconds, inflight) {
  const stats = newStats();
  const pairs = [];
  for (let i = 0; i + 1 < sessions.length; i += 2) pairs.push(new Pair(i / 2, sessions[i], sessions[i + 1], stats));
  const idle = [...pairs];
  let completedInWindow = 0;
  let running = true;
  const t0 = performance.now();
  const tEnd = t0 + seconds * 1000;
  const onDone = (pair, cy) => {
    const inWindow = cy.tEnd <= tEnd;
    record(stats, cy, inWindow);
    if (inWindow && cy.outcome === 'completed') completedInWindow++;
    if (!pair.stopped) idle.push(pair);
    const next = idle.shift();
    if (running && next) next.start(onDone);
  };
  for (let i = 0; i < inflight && idle.length; i++) idle.shift().start(onDone);
  await sleep(seconds * 1000);
  running = false;
  await drain(pairs);
  return { pairs, stats, completedInWindow, seconds, stuck: pairs.filter((p) => p.cycle).length, rateLimitedPairs: pairs.filter((p) => p.stopped).length };
}

// Calls `fire()` `rate` times a second for `seconds`, from one timer that catches up on every
// tick, so the mean rate holds even though node's timers are coarse.
async function paced(rate, seconds, fire) {
  const period = 1000 / rate;
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  let issued = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - t0) / period) + 1);
      while (issued < due) fire(issued++);
      if (issued >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  return (performance.now() - t0) / 1000;
}

// One new cycle every 1/rate s on an idle pair; place->incoming latency of each.
export async function openLoop(sessions, rate, seconds) {
  const stats = newStats();
  const idle = [];
  const pairs = [];
  for (let i = 0; i + 1 < sessions.length; i += 2) {
    const p = new Pair(i / 2, sessions[i], sessions[i + 1], stats);
    pairs.push(p);
    idle.push(p);
  }
  let skipped = 0;
  const onDone = (pair, cy) => {
    record(stats, cy, true);
    if (!pair.stopped) idle.push(pair);
  };
  const elapsed = await paced(rate, seconds, () => {
    const p = idle.shift();
    if (p) p.start(onDone);
    else skipped++;
  });
  await drain(pairs);
  return { stats, skipped, elapsed, stuck: pairs.filter((p) => p.cycle).length };
}

// dcalld's own floor: `ping` -> `pong` round trips at `rate`/s over the sessions in turn (each
// session stays far below its 20 messages/s allowance).
export async function pingOpenLoop(sessions, rate, seconds) {
  const rtt = [];
  const pending = new Map();
  for (const s of sessions) {
    s.onEvent = (m, t) => {
      if (m.type !== 'pong') return;
      const q = pending.get(s);
      if (q && q.length) rtt.push(t - q.shift());
    };
    pending.set(s, []);
  }
  await paced(rate, seconds, (i) => {
    const s = sessions[i % sessions.length];
    pending.get(s).push(performance.now());
    s.send({ type: 'ping' });
  });
  await sleep(200);
  return { rtt };
}

// A message the size of a `place`, so both sides carry similar frames.
function echoPayload(i) {
  return JSON.stringify({ type: 'echo', i, pad: 'p000_00000000bench_b_000000000Bench call000000000000' });
}

// Echo baseline, open loop: round trip of one frame every 1/rate s, over the connections in turn.
export async function echoOpenLoop(conns, rate, seconds) {
  const sent = new Map();
  const rtt = [];
  for (const c of conns) {
    c.onEcho = (data, t) => {
      const { i } = JSON.parse(data);
      rtt.push(t - sent.get(i));
      sent.delete(i);
    };
  }
  const elapsed = await paced(rate, seconds, (i) => {
    const c = conns[i % conns.length];
    sent.set(i, performance.now());
    c.ws.send(echoPayload(i));
  });
  const end = Date.now() + 5000;
  while (sent.size && Date.now() < end) await sleep(10);
  return { rtt, lost: sent.size, elapsed };
}

// Echo baseline, closed loop: every connection keeps one frame in flight for `seconds`.
export async function echoClosedLoop(conns, seconds) {
  let done = 0;
  let running = true;
  let n = 0;
  for (const c of conns) {
    c.onEcho = (data) => {
      JSON.parse(data);
      done++;
      if (running) c.ws.send(echoPayload(n++));
    };
  }
  const t0 = performance.now();
  for (const c of conns) c.ws.send(echoPayload(n++));
  await sleep(seconds * 1000);
  running = false;
  const s = (performance.now() - t0) / 1000;
  const count = done;
  await sleep(200);
  return { roundTrips: count, seconds: s };
}
