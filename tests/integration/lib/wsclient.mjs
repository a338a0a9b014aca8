// A raw WebSocket client speaking docs/protocol.md, for protocol-level checks.
import WebSocket from 'ws';
import { withTimeout } from './proc.mjs';

export class WsClient {
  constructor(url, { name = 'ws', localAddress } = {}) {
    this.name = name;
    this.url = url;
    this.msgs = []; // every parsed message, in arrival order
    this.consumed = new Set();
    this.raw = [];
    this.waiters = [];
    this.ws = new WebSocket(url, { localAddress, handshakeTimeout: 5000, maxPayload: 1 << 20 });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this._notify();
      });
    });
    this.ws.on('error', (e) => (this.lastError = e));
    this.ws.on('message', (data, isBinary) => {
      const text = data.toString();
      this.raw.push(text);
      let m;
      try {
        m = JSON.parse(text);
      } catch {
        m = { type: '_unparseable', text, isBinary };
      }
      this.msgs.push(m);
      this._notify();
    });
  }

  static async connect(url, opts) {
    const c = new WsClient(url, opts);
    await withTimeout(c.opened, 5000, `${c.name}: WebSocket open`);
    return c;
  }

  _notify() {
    for (const w of [...this.waiters]) w();
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  // Next not-yet-consumed message of `type` (or any type when type is null) passing pred.
  next(type, pred = () => true, timeoutMs = 5000) {
    const find = () => {
      for (let i = 0; i < this.msgs.length; i++) {
        const m = this.msgs[i];
        if (!this.consumed.has(i) && (type == null || m.type === type) && pred(m)) {
          this.consumed.add(i);
          return m;
        }
      }
      return null;
    };
    const got = find();
    if (got) return Promise.resolve(got);
    let waiter;
    const p = new Promise((resolve, reject) => {
      waiter = () => {
        const m = find();
        if (m) resolve(m);
        else if (this.closeInfo) {
          reject(new Error(`${this.name}: closed ${JSON.stringify(this.closeInfo)} before '${type}'`));
        }
      };
      this.waiters.push(waiter);
      if (this.closeInfo) waiter();
    });
    return withTimeout(p, timeoutMs, `${this.name}: message '${type}'`).finally(() => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
    });
  }

  all(type, callId) {
    return this.msgs.filter((m) => m.type === type && (callId === undefined || m.call_id === callId));
  }

  // Sends hello and resolves with `registered`; rejects with the server's error otherwise.
  async hello(fields) {
    this.send({ type: 'hello', v: 1, ...fields });
    const m = await this.next(null, (x) => x.type === 'registered' || x.type === 'error', 5000);
    if (m.type === 'error') {
      const e = new Error(`${this.name}: hello refused: ${m.code}: ${m.message}`);
      e.msg = m;
      throw e;
    }
    this.registered = m;
    return m;
  }

  // Sends a message and waits for the reply of `type` (or an error carrying the same ref).
  async request(obj, type, timeoutMs = 5000) {
    const ref = obj.ref || `r${Math.random().toString(36).slice(2, 10)}`;
    this.send({ ...obj, ref });
    return this.next(null, (m) => m.type === type || (m.type === 'error' && m.ref === ref), timeoutMs);
  }

  waitClosed(timeoutMs = 5000) {
    return withTimeout(this.closed, timeoutMs, `${this.name}: close`);
  }

  // Abrupt loss of the TCP connection (no close frame), as a network drop looks to the server.
  drop() {
    if (this.ws._socket) this.ws._socket.destroy();
    else this.ws.terminate();
  }

  close() {
    try {
      this.ws.terminate();
    } catch {
      /* already closed */
    }
  }

  maxSeq() {
    return this.msgs.reduce((mx, m) => (typeof m.seq === 'number' && m.seq > mx ? m.seq : mx), 0);
  }

  describe() {
    return `--- ${this.name} (${this.url}) close=${JSON.stringify(this.closeInfo)}\n` + this.raw.slice(-40).join('\n');
  }
}

// Connects and signs in with a token.
export async function wsClient(srv, token, opts = {}) {
  const c = await WsClient.connect(opts.url || srv.wsUrl, opts);
  await c.hello({ token, ...(opts.hello || {}) });
  return c;
}
