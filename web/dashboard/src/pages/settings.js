// Settings: ring timeout, webhook URL and events, a test delivery and the delivery log.
import { get, put, post } from '../api.js';
import { h, clear, field, showFormError, clearFormErrors, toast, copyButton, icon } from '../dom.js';
import { pageHeader, card, fmtDateTime, emptyRow } from '../widgets.js';

const EVENTS = ['call.placed', 'call.ringing', 'call.answered', 'call.ended'];
const URL_RE = /^https?:\/\/[^\s/$.?#][^\s]*$/i;

export async function render() {
  const s = await get('/v1/settings');
  const serverDefault = s.server_ring_timeout_s || 35;

  // --- calls ---------------------------------------------------------------------------------
  const ring = h('input', { name: 'ring_timeout_s', type: 'number', min: '10', max: '120', step: '1', placeholder: String(serverDefault),
    value: s.ring_timeout_s && s.ring_timeout_s !== serverDefault ? String(s.ring_timeout_s) : '' });
  const callsForm = h('form', { class: 'form', novalidate: true }, h('div', { class: 'form-error', role: 'alert' }),
    field('Ring timeout (seconds)', ring, `How long a call rings before it ends as missed: 10-120 s. Empty: the server default (${serverDefault} s).`),
    h('div', { class: 'card-actions' }, h('button', { type: 'submit', class: 'btn btn-primary', text: 'Save' })));
  callsForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormErrors(callsForm);
    const v = ring.value.trim();
    const n = v === '' ? null : Number(v);
    if (n !== null && (!Number.isInteger(n) || n < 10 || n > 120))
      return showFormError(callsForm, { field: 'ring_timeout_s', message: 'ring_timeout_s: must be a whole number of seconds, 10-120 (or empty for the server default)' });
    try {
      await put('/v1/settings', { ring_timeout_s: n });
      toast('Ring timeout saved');
    } catch (err) {
      showFormError(callsForm, err);
    }
  });

  // --- webhooks ------------------------------------------------------------------------------
  const url = h('input', { name: 'webhook_url', type: 'url', placeholder: 'https://api.example.com/dcall/webhook', value: s.webhook_url || '', maxlength: '2048' });
  const chosen = new Set(s.webhook_events || []);
  const boxes = EVENTS.map((ev) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'webhook_events', value: ev, checked: chosen.has(ev) }), h('span', { class: 'mono', text: ev })));
  const secretBox = h('div');
  const hookForm = h('form', { class: 'form', novalidate: true }, h('div', { class: 'form-error', role: 'alert' }),
    field('Webhook URL', url, 'dcalld POSTs signed JSON (X-Dcall-Signature) for each event; retried with backoff for 24 h.'),
    h('fieldset', { class: 'field' }, h('legend', { text: 'Events' }), h('div', { class: 'check-row' }, boxes),
      h('div', { class: 'hint', text: 'None ticked: every event.' }), h('div', { class: 'field-error', dataset: { errorFor: 'webhook_events' } })),
    secretBox,
    h('div', { class: 'card-actions' },
      h('button', { type: 'button', class: 'btn btn-secondary', dataset: { testid: 'webhook-test' }, text: 'Send test', onclick: sendTest }),
      h('button', { type: 'submit', class: 'btn btn-primary', text: 'Save webhook' })));
  hookForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormErrors(hookForm);
    const u = url.value.trim();
    if (u && (!URL_RE.test(u) || u.length > 2048))
      return showFormError(hookForm, { field: 'webhook_url', message: 'webhook_url: must be an http(s) URL' });
    const events = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    try {
      const r = await put('/v1/settings', { webhook_url: u || null, webhook_events: events });
      clear(secretBox);
      if (r.webhook_secret) {
        secretBox.append(h('div', { class: 'secret-once' },
          h('div', { class: 'kv-label', text: 'Webhook signing secret' }),
          h('div', { class: 'kv-value' }, h('span', { class: 'mono secret', text: r.webhook_secret }), copyButton(() => r.webhook_secret)),
          h('p', { class: 'warn', text: 'Shown once: verify X-Dcall-Signature with it on your server.' })));
      }
      toast('Webhook saved');
    } catch (err) {
      showFormError(hookForm, err);
    }
  });
  async function sendTest() {
    clearFormErrors(hookForm);
    try {
      const r = await post('/v1/webhooks/test', {});
      toast(`Test event queued (${r.id})`);
      setTimeout(loadLog, 1500);
    } catch (err) {
      if (err.code === 'no_webhook_url') err.field = 'webhook_url';
      showFormError(hookForm, err);
    }
  }

  // --- delivery log --------------------------------------------------------------------------
  const logBody = h('tbody');
  async function loadLog() {
    try {
      const r = await get('/v1/webhooks/log?limit=50');
      clear(logBody);
      if (!r.deliveries.length) logBody.append(emptyRow(6, 'No deliveries yet.'));
      for (const d of r.deliveries) {
        logBody.append(h('tr', null,
          h('td', { text: fmtDateTime(d.created_at) }),
          h('td', { class: 'mono', text: d.event }),
          h('td', null, h('span', { class: `badge badge-${d.state}`, text: d.state })),
          h('td', { text: d.http_status == null ? '–' : String(d.http_status) }),
          h('td', { text: String(d.attempts) }),
          h('td', { class: 'small', text: d.last_error || '' })));
      }
    } catch (err) {
      toast(`Delivery log: ${err.message}`, 'error');
    }
  }
  await loadLog();

  return {
    el: h('div', { class: 'page page-settings' },
      pageHeader('Settings', 'Calls and webhooks for your account.'),
      card('Calls', callsForm),
      card('Webhooks', hookForm),
      h('section', { class: 'card card-flush' },
        h('div', { class: 'chart-head pad' }, h('h2', { class: 'card-title', text: 'Delivery log' }),
          h('button', { type: 'button', class: 'btn btn-ghost btn-sm', onclick: loadLog }, icon('refresh'), 'Refresh')),
        h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
          h('thead', null, h('tr', null, ['Created', 'Event', 'State', 'HTTP', 'Attempts', 'Last error'].map((t) => h('th', { text: t })))),
          logBody)))),
  };
}
