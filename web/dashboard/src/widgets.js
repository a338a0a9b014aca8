// Shared page pieces: cards, tabs, code blocks, key/value rows, status badges.
import { h, clear, copyButton } from './dom.js';

export function pageHeader(title, subtitle, ...actions) {
  return h('header', { class: 'page-header' },
    h('div', null, h('h1', { text: title }), subtitle ? h('p', { class: 'muted', text: subtitle }) : null),
    actions.length ? h('div', { class: 'page-actions' }, actions) : null);
}

export function card(title, ...body) {
  return h('section', { class: 'card' }, title ? h('h2', { class: 'card-title', text: title }) : null, body);
}

// Tabs: items [{id, label, render() -> Node}]; onChange(id) after a switch.
export function tabs(items, { initial, onChange, cls = '', label = 'Tabs' } = {}) {
  const panel = h('div', { class: 'tab-panel', role: 'tabpanel' });
  const buttons = items.map((it) =>
    h('button', { type: 'button', role: 'tab', class: 'tab', dataset: { tab: it.id }, text: it.label, onclick: () => select(it.id) }));
  const bar = h('div', { class: `tabs ${cls}`, role: 'tablist', 'aria-label': label }, buttons);
  function select(id) {
    buttons.forEach((b) => {
      const on = b.dataset.tab === id;
      b.classList.toggle('active', on);
      b.setAttribute('aria-selected', on ? 'true' : 'false');
    });
    clear(panel).append(items.find((i) => i.id === id).render());
    onChange?.(id);
  }
  select(initial || items[0].id);
  return { el: h('div', { class: 'tabs-wrap' }, bar, panel), select };
}

// A code sample with a copy button. The account's own values in it (dyn) are marked up, so
// they stand out (and screenshot tests can mask just them).
export function codeBlock(code, lang = '', dyn = []) {
  const body = h('code');
  const vals = dyn.filter(Boolean).sort((a, b) => b.length - a.length);
  if (!vals.length) body.textContent = code;
  else {
    const re = new RegExp(vals.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
    let at = 0;
    for (const m of code.matchAll(re)) {
      body.append(code.slice(at, m.index), h('span', { class: 'v', text: m[0] }));
      at = m.index + m[0].length;
    }
    body.append(code.slice(at));
  }
  return h('div', { class: 'code' },
    h('div', { class: 'code-bar' }, h('span', { class: 'code-lang', text: lang }), copyButton(() => code)),
    h('pre', null, body));
}

export function kv(label, value, { copy = true, mono = true, testid } = {}) {
  return h('div', { class: 'kv' },
    h('div', { class: 'kv-label', text: label }),
    h('div', { class: 'kv-value' },
      h('span', { class: mono ? 'mono' : '', dataset: testid ? { testid } : undefined, text: value }),
      copy ? copyButton(() => value) : null));
}

export const STATUS_LABELS = {
  completed: 'Over',
  declined: 'Declined',
  missed: 'Missed',
  cancelled: 'Canceled',
  busy: 'Busy',
  unreachable: 'Unreachable',
  network_loss: 'Network loss',
  failed: 'Failed',
  ringing: 'Ringing',
  ongoing: 'Ongoing',
};
export const END_REASONS = ['completed', 'declined', 'missed', 'cancelled', 'busy', 'unreachable', 'network_loss', 'failed'];
export const STATUS_COLORS = {
  completed: '#16a34a',
  declined: '#dc2626',
  missed: '#f59e0b',
  cancelled: '#64748b',
  busy: '#8b5cf6',
  unreachable: '#0ea5e9',
  network_loss: '#db2777',
  failed: '#7f1d1d',
};

export function statusBadge(call) {
  const s = call.state === 'ended' ? call.reason : call.state;
  return h('span', { class: `badge badge-${s}`, text: STATUS_LABELS[s] || s });
}

export function fmtDuration(ms) {
  if (ms == null) return '–';
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  return m ? `${m}m ${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export function fmtDateTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function emptyRow(cols, text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: String(cols), text }));
}
