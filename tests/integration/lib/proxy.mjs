// A loopback TCP proxy between a client and dcalld. dropAll() cuts every live connection at once,
// as a network drop does; refuse(true) makes new connections fail until refuse(false).
import net from 'node:net';

export class TcpProxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.refusing = false;
    this.pairs = new Set();
    this.accepted = 0;
    this.refused = 0;
    this.server = net.createServer((client) => this._onConn(client));
  }

  static async start(targetPort) {
    const p = new TcpProxy(targetPort);
    await new Promise((resolve, reject) => {
      p.server.once('error', reject);
      p.server.listen(0, '127.0.0.1', resolve);
    });
    p.port = p.server.address().port;
    p.url = `http://127.0.0.1:${p.port}`;
    return p;
  }

  _onConn(client) {
    if (this.refusing) {
      this.refused += 1;
      client.resetAndDestroy();
      return;
    }
    this.accepted += 1;
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    const pair = { client, upstream };
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  get live() {
    return this.pairs.size;
  }

  refuse(on) {
    this.refusing = on;
  }

  // RST both directions: neither side gets a clean close, as when a phone changes network.
  dropAll() {
    const n = this.pairs.size;
    for (const { client, upstream } of [...this.pairs]) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    this.pairs.clear();
    return n;
  }

  async close() {
    this.dropAll();
    await new Promise((r) => this.server.close(() => r()));
  }
}

// A port nothing listens on (bound then released), for "no server" tests.
export async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}
