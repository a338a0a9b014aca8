// A deterministic lossy/jittery UDP forwarder for the media tests. It listens on listenIp:port and
// forwards to targetIp:targetPort with one upstream socket per client address, so the target sees
// each client as a distinct address (dcalld's relay is reached through it by advertising
// --public-ip listenIp with the relay's own port). Impairments, both directions, per client:
//   loss: probability 0..1 of dropping a packet; jitterMs: extra delay uniform in [0, jitterMs)
//   (so packets reorder); seed: the PRNG seed, so a run is reproducible.
// blackhole(pred) cuts the matching current clients for good; startOutage(pred) cuts matching
// clients, present and future, until endOutage().
import dgram from 'node:dgram';

export class UdpProxy {
  static async start(listenIp, port, targetIp, targetPort, { loss = 0, jitterMs = 0, seed = 1, applies = () => true } = {}) {
    const p = new UdpProxy();
    p.loss = loss;
    p.jitterMs = jitterMs;
    p.rng = seed >>> 0 || 1;
    p.applies = applies;
    // dropped, split by direction: toTarget (client -> target) and toClient (target -> client)
    p.stats = { forwarded: 0, dropped: 0, droppedToTarget: 0, droppedToClient: 0 };
    p.target = { ip: targetIp, port: targetPort };
    p.clients = new Map();
    p.dead = new Set();
    p.sock = dgram.createSocket('udp4');
    p.sock.on('message', (msg, rinfo) => p.fromClient(msg, rinfo));
    await new Promise((resolve, reject) => {
      p.sock.once('error', reject);
      p.sock.bind(port, listenIp, resolve);
    });
    return p;
  }

  // xorshift32: deterministic across runs and platforms
  rand() {
    let x = this.rng;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.rng = x;
    return x / 4294967296;
  }

  // Sends through the impairments configured for this client; toClient says the direction.
  impaired(key, send, toClient = false) {
    if (this.applies(key)) {
      if (this.loss > 0 && this.rand() < this.loss) {
        this.stats.dropped++;
        this.stats[toClient ? 'droppedToClient' : 'droppedToTarget']++;
        return;
      }
      if (this.jitterMs > 0) {
        const d = this.rand() * this.jitterMs;
        this.stats.forwarded++;
        setTimeout(() => {
          if (!this.closed) send();
        }, d);
        return;
      }
    }
    this.stats.forwarded++;
    send();
  }

  fromClient(msg, rinfo) {
    const key = `${rinfo.address}:${rinfo.port}`;
    if (this.outage && this.outage(key)) return;
    if (this.dead.has(key)) return;
    let up = this.clients.get(key);
    if (!up) {
      up = dgram.createSocket('udp4');
      up.on('message', (m) => {
        if (this.dead.has(key) || (this.outage && this.outage(key))) return;
        this.impaired(key, () => this.sock.send(m, rinfo.port, rinfo.address), true);
      });
      up.bind(0, '127.0.0.1');
      this.clients.set(key, up);
    }
    this.impaired(key, () => up.send(msg, this.target.port, this.target.ip));
  }

  blackhole(pred) {
    let n = 0;
    for (const key of this.clients.keys()) {
      if (pred(key)) {
        this.dead.add(key);
        n++;
      }
    }
    return n;
  }

  // Drops every packet of matching clients, present and future, until the outage is lifted.
  startOutage(pred) {
    this.outage = pred;
  }

  endOutage() {
    this.outage = null;
  }

  async close() {
    this.closed = true;
    for (const up of this.clients.values()) up.close();
    await new Promise((r) => this.sock.close(r));
  }
}

