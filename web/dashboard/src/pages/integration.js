// Integration: the account's identifiers, the API secret (shown once), per-platform quickstarts
// filled in with this account's values, token minting, allowed origins, development mode.
import { api, get, put } from '../api.js';
import { h, clear, copyButton, confirmDialog, field, showFormError, clearFormErrors, toast, icon } from '../dom.js';
import { pageHeader, card, tabs, codeBlock, kv } from '../widgets.js';

const ORIGIN_RE = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$|^https?:\/\/\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

export async function render(ctx) {
  const { app } = ctx;
  const settings = await get('/v1/settings').catch(() => ({}));
  const server = location.origin;
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;
  const v = { acc: app.me.account_id, key: app.me.api_key, server, wsUrl, kid: app.me.kid || settings.kid || 'k1' };
  const dyn = [v.acc, v.key, v.server, v.wsUrl];

  const secretBox = h('div');
  function drawSecret() {
    clear(secretBox);
    const s = app.secret;
    if (s) {
      secretBox.append(
        h('div', { class: 'secret-once' },
          h('div', { class: 'kv-label', text: `API secret (${s.kid || v.kid})` }),
          h('div', { class: 'kv-value' }, h('span', { class: 'mono secret', dataset: { testid: 'api-secret' }, text: s.api_secret }), copyButton(() => s.api_secret)),
          h('p', { class: 'warn', text: 'Shown once: copy it now and keep it on your backend. It will not be shown again.' })));
    } else {
      secretBox.append(h('div', { class: 'kv' },
        h('div', { class: 'kv-label', text: 'API secret' }),
        h('div', { class: 'kv-value' }, h('span', { class: 'muted', text: `Hidden (key id ${v.kid}). A secret is shown only once, after sign-up or a rotation.` }))));
    }
  }
  drawSecret();

  const rotate = h('button', { type: 'button', class: 'btn btn-danger-ghost', dataset: { testid: 'rotate' } }, icon('refresh'), 'Rotate secret');
  rotate.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: 'Rotate the API secret?',
      body: 'A new secret is issued and the current one stops working at once: tokens signed with it and HTTP Basic calls using it are refused. Update your backend right after.',
      confirm: 'Rotate now',
      danger: true,
    });
    if (!ok) return;
    rotate.disabled = true;
    try {
      const r = await api('POST', '/v1/web/secret/rotate', {});
      app.secret = { api_secret: r.api_secret, kid: r.kid };
      v.kid = r.kid;
      if (app.me) app.me.kid = r.kid;
      drawSecret();
      toast(`New API secret issued (${r.kid})`);
    } catch (e) {
      toast(e.message, 'error');
    } finally {
      rotate.disabled = false;
    }
  });

  const creds = card('Your credentials',
    h('div', { class: 'kv-grid' },
      kv('Account ID', v.acc, { testid: 'account-id' }),
      kv('API key', v.key, { testid: 'api-key' }),
      kv('Server', server, { testid: 'server-url' })),
    secretBox,
    h('div', { class: 'card-actions' }, rotate));

  const mint = card('1. Mint tokens on your backend',
    h('p', { class: 'muted', text: 'Each app user signs in with a short-lived token (JWT HS256 keyed by your API secret) that your backend mints, so the secret never ships in an app. Ask dcalld for one, or sign it yourself offline.' }),
    tabs([
      { id: 'curl', label: 'curl', render: () => codeBlock(curlSnippet(v), 'shell', dyn) },
      { id: 'node', label: 'Node.js', render: () => codeBlock(nodeSnippet(v), 'javascript', dyn) },
      { id: 'python', label: 'Python', render: () => codeBlock(pythonSnippet(v), 'python', dyn) },
    ], { label: 'Token minting' }).el);

  const quick = card('2. Add calling to your app',
    h('p', { class: 'muted', text: 'Pick your platform. Android and iOS apps wrap libdcall, the C SDK; the Web speaks the signalling protocol with a plain RTCPeerConnection.' }),
    tabs([
      { id: 'web', label: 'Web', render: () => codeBlock(webSnippet(v), 'javascript', dyn) },
      { id: 'c', label: 'C / desktop', render: () => codeBlock(cSnippet(v), 'c', dyn) },
      { id: 'android', label: 'Android', render: () => codeBlock(androidSnippet(v), 'kotlin + JNI (C)', dyn) },
      { id: 'ios', label: 'iOS', render: () => codeBlock(iosSnippet(v), 'swift', dyn) },
    ], { label: 'Platform', cls: 'tabs-platform' }).el);

  return {
    el: h('div', { class: 'page page-integration' },
      pageHeader('Integration', 'Everything your backend and apps need to place their first call.'),
      creds, mint, quick, originsCard(settings), devModeCard(settings, v)),
  };
}

function originsCard(settings) {
  let origins = Array.isArray(settings.allowed_origins) ? [...settings.allowed_origins] : [];
  const list = h('ul', { class: 'origin-list', dataset: { testid: 'origins' } });
  const input = h('input', { name: 'allowed_origins', type: 'url', placeholder: 'https://app.example.com' });
  const form = h('form', { class: 'form', novalidate: true },
    h('div', { class: 'form-error', role: 'alert' }),
    list,
    h('div', { class: 'inline-add' }, field('Add an origin', input, 'Scheme, host and optional port; no path. Empty list: any origin.'),
      h('button', { type: 'submit', class: 'btn btn-secondary', text: 'Add' })),
    h('div', { class: 'card-actions' }, h('button', { type: 'button', class: 'btn btn-primary', text: 'Save origins', onclick: save })));
  function draw() {
    clear(list);
    if (!origins.length) list.append(h('li', { class: 'muted', text: 'No origins listed: the Web SDK connects from any origin.' }));
    origins.forEach((o, i) => list.append(h('li', null, h('span', { class: 'mono', text: o }),
      h('button', { type: 'button', class: 'btn btn-ghost btn-sm', 'aria-label': `Remove ${o}`, text: 'Remove', onclick: () => { origins.splice(i, 1); draw(); } }))));
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearFormErrors(form);
    const o = input.value.trim().replace(/\/$/, '');
    if (!ORIGIN_RE.test(o)) return showFormError(form, { field: 'allowed_origins', message: 'allowed_origins: must be an origin like https://app.example.com (scheme, host, optional port, no path)' });
    if (origins.length >= 20) return showFormError(form, { field: 'allowed_origins', message: 'allowed_origins: at most 20 origins' });
    if (!origins.includes(o)) origins.push(o);
    input.value = '';
    draw();
  });
  async function save() {
    clearFormErrors(form);
    try {
      const r = await put('/v1/settings', { allowed_origins: origins });
      origins = Array.isArray(r.allowed_origins) ? r.allowed_origins : origins;
      draw();
      toast('Allowed origins saved');
    } catch (e) {
      showFormError(form, e);
    }
  }
  draw();
  return card('Allowed origins (Web)',
    h('p', { class: 'muted', text: 'Browsers send an Origin with every WebSocket. When this list is not empty, dcalld refuses /v1/ws connections from any origin not on it. Native apps send none and are not affected.' }),
    form);
}

function devModeCard(settings, v) {
  const toggle = h('input', { type: 'checkbox', role: 'switch', name: 'dev_key_auth', checked: !!settings.dev_key_auth });
  const snippet = h('div', { dataset: { testid: 'dev-snippet' } });
  const draw = () => {
    clear(snippet);
    if (toggle.checked) snippet.append(codeBlock(devSnippet(v), 'json', [v.acc, v.key]));
  };
  toggle.addEventListener('change', async () => {
    try {
      const r = await put('/v1/settings', { dev_key_auth: toggle.checked });
      toggle.checked = !!r.dev_key_auth;
      toast(toggle.checked ? 'Development mode on: Account ID + API key sign-in accepted' : 'Development mode off');
    } catch (e) {
      toggle.checked = !toggle.checked;
      toast(e.message, 'error');
    }
    draw();
  });
  draw();
  return card('Development mode',
    h('label', { class: 'switch' }, toggle, h('span', { class: 'switch-ui' }),
      h('span', { text: 'Let apps sign in with the Account ID + API key (no backend, no token)' })),
    h('p', { class: 'muted', text: 'For trying dcall out only: anyone with your API key could then sign in as any user. Keep it off in production.' }),
    snippet);
}

const curlSnippet = (v) => `# On your backend: a token for one user, valid 1 hour
curl -s -u ${v.acc}:$DCALL_API_SECRET \\
  -H 'content-type: application/json' \\
  -X POST ${v.server}/v1/tokens \\
  -d '{"cuid":"driver_7","name":"Ravi","ttl":3600}'
# -> {"token":"eyJ...","expires_at":"..."}`;

const nodeSnippet = (v) => `// Offline, no dependency: a JWT HS256 keyed by the API secret.
import crypto from 'node:crypto';

const ACCOUNT_ID = '${v.acc}';
const API_SECRET = process.env.DCALL_API_SECRET; // never in the app

export function dcallToken(cuid, name, ttlSeconds = 3600) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'HS256', typ: 'JWT', kid: '${v.kid}' });
  const body = b64({ acc: ACCOUNT_ID, sub: cuid, name, iat: now, exp: now + ttlSeconds });
  const sig = crypto.createHmac('sha256', API_SECRET).update(head + '.' + body).digest('base64url');
  return head + '.' + body + '.' + sig;
}`;

const pythonSnippet = (v) => `# pip install PyJWT
import os, time, jwt

ACCOUNT_ID = "${v.acc}"
API_SECRET = os.environ["DCALL_API_SECRET"]  # never in the app

def dcall_token(cuid: str, name: str, ttl: int = 3600) -> str:
    now = int(time.time())
    claims = {"acc": ACCOUNT_ID, "sub": cuid, "name": name, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, API_SECRET, algorithm="HS256", headers={"kid": "${v.kid}"})`;

const webSnippet = (v) => `// Signalling over one WebSocket (docs/protocol.md), audio with a plain RTCPeerConnection.
const token = await (await fetch('/your-backend/dcall-token')).text();
const ws = new WebSocket('${v.wsUrl}');
const send = (m) => ws.send(JSON.stringify(m));
const pc = new RTCPeerConnection();
ws.onopen = () => send({ type: 'hello', v: 1, token });

ws.onmessage = async ({ data }) => {
  const m = JSON.parse(data);
  switch (m.type) {
    case 'registered': // signed in: place a call
      send({ type: 'place', client_call_id: crypto.randomUUID(), to: 'driver_7',
             context: 'Your driver for ride #4821' });
      break;
    case 'branding': applyBranding(m.branding); break; // logo, colours, button theme
    case 'outgoing': { // the call exists: connect audio while it rings
      const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      mic.getTracks().forEach((t) => pc.addTrack(t, mic));
      await pc.setLocalDescription(await pc.createOffer());
      send({ type: 'offer', call_id: m.call_id, sdp: pc.localDescription.sdp });
      break;
    }
    case 'answer': await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp }); break;
    case 'ended': console.log('call ended:', m.reason); break;
  }
};
pc.ontrack = (e) => { document.querySelector('audio').srcObject = e.streams[0]; };`;

const cSnippet = (v) => `/* cc app.c -I dcall/include -L dcall/build -ldcall */
#include <dcall/dcall.h>
#include <stdio.h>
#include <stdlib.h>

static void on_event(dc_client *c, const dc_event *ev, void *ud) {
    switch (ev->type) {
    case DC_EV_REGISTERED: {
        dc_call_params p = { .to = "driver_7", .context = "Your driver for ride #4821" };
        dc_client_place(c, &p, NULL);
        break;
    }
    case DC_EV_INCOMING: /* show ev->peer_name and ev->context, then: */
        dc_client_answer(c, ev->call_id);
        break;
    case DC_EV_BRANDING: /* ev->json: {"logo_url","background_color",...} */ break;
    case DC_EV_ENDED: printf("ended: %s\\n", ev->reason); break;
    default: break;
    }
}

int main(void) {
    dc_config cfg = {
        .server_url = "${v.server}",
        .token = getenv("DCALL_TOKEN"), /* minted by your backend */
        .cuid = "rider_1",
        .on_event = on_event,
    };
    dc_client *c;
    if (dc_client_new(&cfg, &c) < 0 || dc_client_connect(c) < 0) return 1;
    getchar(); /* events arrive on the SDK's own loop thread */
    dc_client_unref(c);
    return 0;
}`;

const androidSnippet = (v) => `// Kotlin: a thin JNI bridge over libdcall (build it for your ABIs with the NDK).
class DcallClient(token: String, cuid: String) {
    init { System.loadLibrary("dcall_jni") }
    private val handle = nativeNew("${v.server}", token, cuid)
    fun call(to: String, context: String) = nativePlace(handle, to, context)
    fun answer(callId: String) = nativeAnswer(handle, callId)
    // Called from C on the SDK's thread: post to the main thread before touching views.
    fun onEvent(type: Int, callId: String?, json: String?) { /* incoming, ended, branding... */ }
    private external fun nativeNew(server: String, token: String, cuid: String): Long
    private external fun nativePlace(h: Long, to: String, context: String): Int
    private external fun nativeAnswer(h: Long, callId: String): Int
}

/* dcall_jni.c */
JNIEXPORT jlong JNICALL Java_com_example_DcallClient_nativeNew(JNIEnv *env, jobject self,
        jstring server, jstring token, jstring cuid) {
    dc_config cfg = { .server_url = (*env)->GetStringUTFChars(env, server, NULL),
                      .token = (*env)->GetStringUTFChars(env, token, NULL),
                      .cuid = (*env)->GetStringUTFChars(env, cuid, NULL),
                      .on_event = on_event, .userdata = (*env)->NewGlobalRef(env, self) };
    dc_client *c = NULL;
    if (dc_client_new(&cfg, &c) == 0) dc_client_connect(c); /* cfg strings are copied */
    return (jlong)(intptr_t)c;
}`;

const iosSnippet = (v) => `// Swift: import libdcall through a bridging header (#include <dcall/dcall.h>).
final class Dcall {
    private var client: OpaquePointer?

    init(token: String, cuid: String) {
        var cfg = dc_config()
        "${v.server}".withCString { server in token.withCString { tok in cuid.withCString { id in
            cfg.server_url = server; cfg.token = tok; cfg.cuid = id
            cfg.userdata = Unmanaged.passUnretained(self).toOpaque()
            cfg.on_event = { _, ev, ud in
                guard let ev = ev?.pointee else { return }
                // DC_EV_INCOMING: report to CallKit with ev.peer_name and ev.context
                // DC_EV_BRANDING: String(cString: ev.json) has the logo and colours
            }
            dc_client_new(&cfg, &client) // copies the strings
        } } }
        dc_client_connect(client)
    }

    func call(_ to: String, context: String) {
        to.withCString { t in context.withCString { c in
            var p = dc_call_params(); p.to = t; p.context = c
            dc_client_place(client, &p, nil)
        } }
    }
}`;

const devSnippet = (v) => `{"type":"hello","v":1,"account_id":"${v.acc}","api_key":"${v.key}","cuid":"rider_1","name":"Asha"}`;
