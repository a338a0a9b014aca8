// TLS: dcalld with --tls-cert/--tls-key serves https and wss only; the CLI (libdcall) connects over
// wss when it trusts the certificate (--ca-file) and refuses a certificate it cannot verify.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { itest, assert, offlineToken, uniqCuid } from './lib/index.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dcall-tls-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const cert = path.join(tmp, 'cert.pem');
const key = path.join(tmp, 'key.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
  '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
{ stdio: 'ignore' });

itest('a call over wss with a trusted certificate; an untrusted one is refused', async (h) => {
  const srv = await h.startServer({ extraArgs: ['--tls-cert', cert, '--tls-key', key, '--no-media'] });
  assert.match(srv.url, /^https:/);
  const acct = await h.account(srv);
  // Tokens minted offline, as a backend would (this test's own fetch does not trust the cert).
  const mk = (p) => {
    const cuid = uniqCuid(p);
    return { cuid, token: offlineToken(acct, cuid) };
  };
  const a = mk('tlsa');
  const b = mk('tlsb');
  const common = (u) => ['--server', srv.url, '--ca-file', cert, '--token', u.token, '--cuid', u.cuid, '--no-media'];
  const callee = h.cli([...common(b), 'listen', '--answer-after', '0.2', '--exit-after-calls', '1'], { name: 'tls-listen' });
  await callee.waitFor('registered');
  const caller = h.cli([...common(a), 'call', b.cuid, '--context', 'Over TLS', '--hangup-after', '0.5'], { name: 'tls-call' });
  const ended = await caller.waitFor('ended', () => true, 15000);
  assert.equal(ended.reason, 'completed');
  assert.equal((await caller.exit(10000)).code, 0);
  // Without the CA the certificate cannot be verified: no connection, exit 1.
  const refused = h.cli(['--server', srv.url, '--token', a.token, '--cuid', a.cuid, '--no-media', 'call', b.cuid], { name: 'tls-untrusted' });
  const ex = await refused.exit(15000);
  assert.equal(ex.code, 1);
  assert.match(refused.stderr, /cannot reach the server/);
});
