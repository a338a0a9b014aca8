// The dashboard's files as dcalld serves them (docs/dashboard.md, "Assets"): embedded in the
// binary by the build, or read from --dashboard-dir. Every built file byte for byte, gzip when
// asked for, ETag/304, HEAD, cache and security headers, client-side routes, 404s, path traversal,
// and the API paths untouched.
import { before, after } from 'node:test';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { Scope, itest, assert, rest, binDir, tempDirs } from './lib/index.mjs';

const S = new Scope();
const opt = { parent: S };
let srv;
let acct;
// The build's dashboard (what CMake embedded): BUILD/dashboard next to BUILD/bin.
const built = path.resolve(binDir(), '..', 'dashboard');
const embedded = fs.existsSync(path.join(built, 'index.html'));

const CSP =
  "default-src 'self'; img-src 'self' data: blob: https: http:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png' };

before(async () => {
  srv = await S.startServer();
  acct = await S.account(srv, 'Assets Co');
});
after(() => S.cleanup());

// One raw request (node:http: no automatic decompression, no default Accept-Encoding, the path
// sent exactly as written).
function get(s, p, { method = 'GET', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: s.port, path: p, method, headers, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${p}`)));
    req.on('error', reject);
    req.end();
  });
}

function listFiles(dir, rel = '') {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(dir, `${rel}/${e.name}`) : [`${rel}/${e.name}`],
  );
}

function assertDashboardHeaders(r, what) {
  assert.equal(r.headers['content-security-policy'], CSP, `${what}: CSP`);
  assert.equal(r.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
  assert.equal(r.headers['referrer-policy'], 'same-origin', `${what}: referrer-policy`);
  assert.equal(r.headers['x-frame-options'], 'DENY', `${what}: x-frame-options`);
  assert.match(r.headers.etag || '', /^"[^"]+"$/, `${what}: a strong ETag`);
}

itest(
  'index.html at / and at client-side routes (/stats, /calls/c_1): no-cache, CSP and security headers',
  async () => {
    if (!embedded) {
      const r = await get(srv, '/stats');
      assert.equal(r.status, 404, 'a build without the dashboard says so');
      assert.match(r.body.toString(), /dashboard is not built/);
      return;
    }
    const index = fs.readFileSync(path.join(built, 'index.html'));
    for (const p of ['/', '/stats', '/login', '/calls/c_123', '/index.html']) {
      const r = await get(srv, p);
      assert.equal(r.status, 200, p);
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8', p);
      assert.equal(r.headers['cache-control'], 'no-cache', `${p}: index.html is revalidated`);
      assert.ok(r.body.equals(index), `${p}: the built index.html`);
      assertDashboardHeaders(r, p);
    }
  },
  opt,
);

itest(
  'every built file byte for byte, identity and gzip; hashed /assets/ files immutable; Vary',
  async (h, t) => {
    if (!embedded) return t.skip('this build has no embedded dashboard (-DDCALL_DASHBOARD=OFF)');
    const files = listFiles(built);
    assert.ok(files.some((f) => f.startsWith('/assets/') && f.endsWith('.js')), 'the build has JS under /assets/');
    let gzipped = 0;
    for (const f of files) {
      const raw = fs.readFileSync(path.join(built, f));
      const id = await get(srv, f);
      assert.equal(id.status, 200, f);
      assert.ok(id.body.equals(raw), `${f}: identity bytes`);
      assert.equal(id.headers['content-encoding'], undefined, `${f}: no gzip unless asked`);
      assert.equal(Number(id.headers['content-length']), raw.length, `${f}: length`);
      const type = TYPES[path.extname(f)];
      if (type) assert.equal(id.headers['content-type'], type, `${f}: content type`);
      assert.equal(
        id.headers['cache-control'],
        f.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
        `${f}: cache-control`,
      );
      assertDashboardHeaders(id, f);
      const gz = await get(srv, f, { headers: { 'accept-encoding': 'br, gzip;q=0.8, deflate' } });
      assert.equal(gz.status, 200);
      if (gz.headers['content-encoding'] === 'gzip') {
        gzipped++;
        assert.ok(zlib.gunzipSync(gz.body).equals(raw), `${f}: gunzipped bytes`);
        assert.ok(gz.body.length < raw.length, `${f}: gzip only when smaller`);
        assert.equal(gz.headers.vary, 'Accept-Encoding');
        assert.notEqual(gz.headers.etag, id.headers.etag, `${f}: each encoding its own ETag`);
      } else {
        assert.ok(gz.body.equals(raw), `${f}: sent as is when gzip would not be smaller`);
      }
    }
    assert.ok(gzipped >= 1, 'the JS and CSS go gzip');
    const js = files.find((f) => f.startsWith('/assets/') && f.endsWith('.js'));
    const refused = await get(srv, js, { headers: { 'accept-encoding': 'gzip;q=0, identity' } });
    assert.equal(refused.headers['content-encoding'], undefined, 'gzip;q=0 is a refusal');
    const star = await get(srv, js, { headers: { 'accept-encoding': '*' } });
    assert.equal(star.headers['content-encoding'], 'gzip', '* accepts gzip');
  },
  opt,
);

itest(
  'ETag -> 304 (either encoding, W/ and lists); HEAD: headers and length, no body',
  async (h, t) => {
    if (!embedded) return t.skip('this build has no embedded dashboard (-DDCALL_DASHBOARD=OFF)');
    const js = listFiles(built).find((f) => f.startsWith('/assets/') && f.endsWith('.js'));
    for (const p of ['/', js]) {
      const first = await get(srv, p);
      const gz = await get(srv, p, { headers: { 'accept-encoding': 'gzip' } });
      for (const inm of [first.headers.etag, gz.headers.etag, `W/${first.headers.etag}`, `"nope", ${first.headers.etag}`, '*']) {
        const r = await get(srv, p, { headers: { 'if-none-match': inm } });
        assert.equal(r.status, 304, `${p} If-None-Match: ${inm}`);
        assert.equal(r.body.length, 0, '304 has no body');
        assert.equal(r.headers.etag, first.headers.etag);
        assert.equal(r.headers['cache-control'], first.headers['cache-control']);
      }
      const other = await get(srv, p, { headers: { 'if-none-match': '"0000"' } });
      assert.equal(other.status, 200, 'another ETag gets the file');
      const head = await get(srv, p, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0, 'HEAD has no body');
      assert.equal(Number(head.headers['content-length']), first.body.length, 'HEAD: the GET length');
      assert.equal(head.headers.etag, first.headers.etag);
    }
    // the connection stays usable after a HEAD and a 304 (keep-alive, no stray body bytes)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const seq = [];
    for (const [method, headers] of [['HEAD', {}], ['GET', { 'if-none-match': (await get(srv, '/')).headers.etag }], ['GET', {}]]) {
      seq.push(await new Promise((resolve, reject) => {
        http.request({ host: '127.0.0.1', port: srv.port, path: '/', method, headers, agent }, (res) => {
          let n = 0;
          res.on('data', (c) => (n += c.length));
          res.on('end', () => resolve([res.statusCode, n]));
        }).on('error', reject).end();
      }));
    }
    agent.destroy();
    assert.deepEqual(seq.map((x) => x[0]), [200, 304, 200]);
    assert.ok(seq[2][1] > 0, 'the last GET on the same connection gets its body');
  },
  opt,
);

itest(
  'missing files 404 (JSON); other methods 405; path traversal never leaves the dashboard',
  async () => {
    for (const p of ['/assets/missing-ABCDEF.js', '/nope.txt', '/favicon.ico', '/.env']) {
      const r = await get(srv, p);
      assert.equal(r.status, 404, p);
      assert.equal(JSON.parse(r.body).error.code, 'not_found', p);
    }
    const post = await get(srv, '/stats', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    for (const p of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/assets/..%2f..%2f..%2fetc%2fpasswd', '/assets/%2e%2e/%2e%2e/etc/hostname']) {
      const r = await get(srv, p);
      assert.ok(!/root:/.test(r.body.toString()), `${p}: no file from outside`);
      assert.ok(r.status === 404 || (r.status === 200 && /<!doctype html>/i.test(r.body.toString())), `${p}: ${r.status}`);
    }
  },
  opt,
);

itest(
  'the API keeps its JSON, its headers and its errors: /v1, /healthz, /metrics',
  async () => {
    const st = await rest(srv, 'GET', '/v1/stats', { auth: acct });
    assert.equal(st.status, 200, st.text);
    assert.equal(typeof st.json.summary.total, 'number');
    assert.match(st.headers.get('content-type'), /^application\/json/);
    assert.equal(st.headers.get('cache-control'), 'no-store');
    assert.equal(st.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    assert.equal(st.headers.get('x-content-type-options'), 'nosniff');
    for (const p of ['/v1', '/v1/', '/v1/nothing-here']) {
      const r = await get(srv, p, { headers: { authorization: 'Basic ' + Buffer.from(`${acct.account_id}:${acct.api_secret}`).toString('base64') } });
      assert.equal(r.status, 404, p);
      assert.match(r.headers['content-type'], /^application\/json/, p);
    }
    const unauth = await get(srv, '/v1/calls');
    assert.equal(unauth.status, 401);
    assert.equal(JSON.parse(unauth.body).error.code, 'unauthorized');
    assert.equal((await get(srv, '/healthz')).status, 200);
    assert.match((await get(srv, '/metrics')).body.toString(), /dcall_/);
    assert.equal((await get(srv, '/_test/nothing')).status, 404, '/_test stays outside the dashboard');
    assert.match((await get(srv, '/_test/nothing')).headers['content-type'], /^application\/json/);
  },
  opt,
);

itest(
  '--dashboard-dir: read per request, routes to index.html, no dot files, no symlinks or paths out of it',
  async (h) => {
    const top = fs.mkdtempSync(path.join(os.tmpdir(), 'dcall-dash-'));
    tempDirs.add(top);
    const dir = path.join(top, 'dist');
    fs.mkdirSync(path.join(dir, 'assets'), { recursive: true });
    fs.writeFileSync(path.join(top, 'secret.txt'), 'root:x:0:0 secret outside');
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>one</title>');
    fs.writeFileSync(path.join(dir, 'assets', 'app-1.js'), 'console.log(1)');
    fs.writeFileSync(path.join(dir, '.env'), 'SECRET=1');
    fs.symlinkSync(path.join(top, 'secret.txt'), path.join(dir, 'assets', 'link.txt'));
    fs.symlinkSync(top, path.join(dir, 'up'));
    // a FIFO is no file to serve, and opening it must not wait for a writer (the loop would hang)
    execFileSync('mkfifo', [path.join(dir, 'assets', 'pipe.js')]);
    const d = await h.startServer({ extraArgs: ['--dashboard-dir', `${dir}/`] });

    const idx = await get(d, '/stats');
    assert.equal(idx.status, 200);
    assert.equal(idx.body.toString(), '<!doctype html><title>one</title>');
    assertDashboardHeaders(idx, 'dir /stats');
    assert.equal(idx.headers['cache-control'], 'no-cache');
    const js = await get(d, '/assets/app-1.js', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(js.status, 200);
    assert.equal(js.body.toString(), 'console.log(1)');
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal((await get(d, '/assets/app-1.js', { headers: { 'if-none-match': js.headers.etag } })).status, 304);

    // read per request: a rebuilt file is served at once, under a new ETag
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>two, longer</title>');
    const again = await get(d, '/', { headers: { 'if-none-match': idx.headers.etag } });
    assert.equal(again.status, 200);
    assert.equal(again.body.toString(), '<!doctype html><title>two, longer</title>');
    assert.notEqual(again.headers.etag, idx.headers.etag);

    for (const p of ['/.env', '/assets/link.txt', '/up/secret.txt', '/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/assets/missing.js', '/assets/pipe.js']) {
      const r = await get(d, p);
      assert.equal(r.status, 404, `${p}: ${r.status} ${r.body}`);
      assert.ok(!/secret/.test(r.body.toString()), `${p}: nothing from outside`);
    }
    const bad = await h.startServer({ extraArgs: ['--dashboard-dir', path.join(top, 'nope')] }).then(
      () => null,
      (e) => e,
    );
    assert.ok(bad, 'a --dashboard-dir that is not a directory stops dcalld at start');
  },
  opt,
);

// One request on an HTTP/2 session; rejects when the stream does not end in time (a response
// without a body must still end its stream).
function h2get(session, p, headers = {}, method = 'GET') {
  return new Promise((resolve, reject) => {
    const st = session.request({ ':path': p, ':method': method, ...headers });
    const chunks = [];
    let head = null;
    const timer = setTimeout(() => reject(new Error(`HTTP/2 ${method} ${p}: stream not ended after 3 s`)), 3000);
    st.on('response', (hd) => (head = hd));
    st.on('data', (c) => chunks.push(c));
    st.on('end', () => {
      clearTimeout(timer);
      resolve({ status: head[':status'], headers: head, body: Buffer.concat(chunks) });
    });
    st.on('error', reject);
    st.end();
  });
}

itest(
  'over TLS and HTTP/2: 200, 304 and HEAD each end their stream; HSTS on dashboard and API answers',
  async (h) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dcall-dash-tls-'));
    tempDirs.add(dir);
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const d = await h.startServer({ extraArgs: ['--tls-cert', cert, '--tls-key', key, '--no-media'] });
    const session = http2.connect(`https://127.0.0.1:${d.port}`, { ca: fs.readFileSync(cert) });
    try {
      const first = await h2get(session, '/stats');
      assert.equal(first.status, embedded ? 200 : 404);
      assert.ok(first.body.length > 0);
      assert.equal(first.headers['strict-transport-security'], 'max-age=15768000; includeSubDomains');
      if (embedded) {
        assert.equal(first.headers['content-security-policy'], CSP);
        const again = await h2get(session, '/stats', { 'if-none-match': first.headers.etag });
        assert.equal(again.status, 304);
        assert.equal(again.body.length, 0);
      }
      const head = await h2get(session, '/', {}, 'HEAD');
      assert.equal(head.body.length, 0);
      const api = await h2get(session, '/healthz');
      assert.equal(api.status, 200);
      assert.equal(api.headers['strict-transport-security'], 'max-age=15768000; includeSubDomains');
      assert.equal(api.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    } finally {
      session.close();
    }
  },
  opt,
);
