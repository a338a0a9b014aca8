// The /v1/web/live WebSocket: the server pushes {"event":"call","call":{...}} whenever a call of
// the account is placed, answered or ends. One socket for the app, reconnecting with backoff;
// pages subscribe while they are shown.

const listeners = new Set();
const stateListeners = new Set();
let ws = null;
let wanted = false;
let backoff = 500;
let timer = null;
let connected = false;

function setConnected(v) {
  connected = v;
  stateListeners.forEach((f) => f(v));
}

function open() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(`${proto}//${location.host}/v1/web/live`);
  ws.onopen = () => {
    backoff = 500;
    setConnected(true);
  };
  ws.onmessage = (e) => {
    let m;
    try {
      m = JSON.parse(e.data);
    } catch {
      return;
    }
    if (m && m.event === 'call' && m.call) listeners.forEach((f) => f(m.call));
  };
  ws.onclose = () => {
    ws = null;
    setConnected(false);
    if (!wanted) return;
    timer = setTimeout(open, backoff);
    backoff = Math.min(backoff * 2, 10000);
  };
}

export function startLive() {
  if (wanted) return;
  wanted = true;
  open();
}

export function stopLive() {
  wanted = false;
  clearTimeout(timer);
  if (ws) ws.close();
}

export function onCall(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function onLiveState(fn) {
  stateListeners.add(fn);
  fn(connected);
  return () => stateListeners.delete(fn);
}

export const isLive = () => connected;
