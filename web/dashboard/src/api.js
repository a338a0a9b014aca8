// The dashboard's client of the /v1 API: same-origin fetch with the session cookie, the CSRF
// token on every non-GET request, and errors as ApiError {status, code, field, message}.

let csrfToken = null;
let onUnauthorized = () => {};

export function setCsrf(t) {
  csrfToken = t || null;
}

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export class ApiError extends Error {
  constructor(status, code, field, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network_error', null, 'The server could not be reached; check your connection and retry.');
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const e = (json && json.error) || {};
    const err = new ApiError(res.status, e.code || `http_${res.status}`, e.field, e.message || `${res.status} ${res.statusText}`);
    if (res.status === 429) {
      const after = res.headers.get('retry-after');
      if (after) err.message += ` Try again in ${after} s.`;
    }
    if (res.status === 401 && !path.startsWith('/v1/web/')) onUnauthorized();
    throw err;
  }
  return json;
}

export const get = (p) => api('GET', p);
export const post = (p, b = {}) => api('POST', p, b);
export const put = (p, b) => api('PUT', p, b);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
