// Offline JWT HS256 minting and decoding, as a business backend would do with any JWT library.
import crypto from 'node:crypto';

const b64u = (buf) => Buffer.from(buf).toString('base64url');

export function signJwt(claims, secret, header = { alg: 'HS256', typ: 'JWT' }) {
  const head = b64u(JSON.stringify(header));
  const body = b64u(JSON.stringify(claims));
  const sig = b64u(crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest());
  return `${head}.${body}.${sig}`;
}

// A token for a cuid of acct, valid now unless overridden (iat/exp in seconds).
export function offlineToken(acct, cuid, extra = {}, secret = acct.api_secret) {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({ acc: acct.account_id, sub: cuid, iat: now, exp: now + 3600, ...extra }, secret);
}

// The "alg":"none" attack: no signature at all.
export function unsignedJwt(claims) {
  return `${b64u(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64u(JSON.stringify(claims))}.`;
}

export function decodeJwt(token) {
  const [h, p, s] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    claims: JSON.parse(Buffer.from(p, 'base64url').toString()),
    signingInput: `${h}.${p}`,
    signature: s,
  };
}

export function verifyHs256(token, secret) {
  const { signingInput, signature } = decodeJwt(token);
  const want = b64u(crypto.createHmac('sha256', secret).update(signingInput).digest());
  return want === signature;
}
