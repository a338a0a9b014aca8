// The call log: filters (status, cuid, dates), paging with next_cursor, CSV export (format=csv).
// The first page refreshes live as calls are placed, answered and end.
import { get, query } from '../api.js';
import { h, clear, field, showFormError, clearFormErrors, icon, toast } from '../dom.js';
import { onCall } from '../live.js';
import { pageHeader, statusBadge, fmtDuration, fmtDateTime, emptyRow, END_REASONS, STATUS_LABELS } from '../widgets.js';

const CUID_RE = /^(?=.*[a-zA-Z])[A-Za-z0-9]+(_[a-zA-Z0-9]+)*$/;
const PAGE = 25;

const localDay = (s, plus = 0) => {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + plus).toISOString() : null;
};

export async function render() {
  const status = h('select', { name: 'status' }, h('option', { value: '', text: 'Any status' }),
    ['ringing', 'ongoing', ...END_REASONS].map((s) => h('option', { value: s, text: STATUS_LABELS[s] })));
  const cuid = h('input', { name: 'cuid', type: 'search', placeholder: 'rider_1', maxlength: '50', autocomplete: 'off' });
  const from = h('input', { name: 'from', type: 'date' });
  const to = h('input', { name: 'to', type: 'date' });
  const csv = h('a', { class: 'btn btn-secondary', href: '#', download: 'calls.csv', dataset: { testid: 'calls-csv' } }, icon('download'), 'Export CSV');
  const form = h('form', { class: 'form filters', novalidate: true },
    field('Status', status), field('User (cuid)', cuid), field('From', from), field('To', to),
    h('div', { class: 'filter-actions' }, h('button', { type: 'submit', class: 'btn btn-primary', text: 'Apply' }),
      h('button', { type: 'reset', class: 'btn btn-ghost', text: 'Clear' })),
    h('div', { class: 'form-error', role: 'alert' }));

  const tbody = h('tbody');
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'table calls-table' },
    h('thead', null, h('tr', null, ['Started', 'Caller', 'Callee', 'Status', 'Duration', 'MOS', 'Context', 'Call ID'].map((t) => h('th', { text: t })))),
    tbody));
  const prev = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', text: '← Newer', disabled: true });
  const next = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', text: 'Older →', disabled: true });
  const pageInfo = h('span', { class: 'muted' });
  let filters = {};
  let cursors = [null]; // cursor of each page shown so far; the last is the current page's
  let nextCursor = null;
  let seq = 0;

  function readFilters() {
    const f = { status: status.value, cuid: cuid.value.trim(), from: from.value ? localDay(from.value) : '', to: to.value ? localDay(to.value, 1) : '' };
    if (f.cuid && (!CUID_RE.test(f.cuid) || f.cuid.length < 5 || f.cuid.length > 50))
      return { error: { field: 'cuid', message: 'cuid: invalid_cuid: must be 5-50 letters, digits, single underscores, with at least one letter' } };
    if (f.from && f.to && f.to <= f.from) return { error: { field: 'to', message: 'to: must be on or after From' } };
    return { f };
  }

  async function load() {
    const my = ++seq;
    const cursor = cursors[cursors.length - 1];
    csv.href = `/v1/calls${query({ ...filters, format: 'csv' })}`;
    try {
      const r = await get(`/v1/calls${query({ ...filters, limit: PAGE, cursor })}`);
      if (my !== seq) return;
      nextCursor = r.next_cursor || null;
      clear(tbody);
      if (!r.calls.length) tbody.append(emptyRow(8, cursors.length > 1 ? 'No older calls.' : 'No calls match these filters yet.'));
      for (const c of r.calls) tbody.append(row(c));
      prev.disabled = cursors.length <= 1;
      next.disabled = !nextCursor;
      pageInfo.textContent = `Page ${cursors.length}`;
    } catch (e) {
      if (my === seq) showFormError(form, e);
    }
  }

  function row(c) {
    return h('tr', { dataset: { callId: c.id } },
      h('td', { text: fmtDateTime(c.created_at) }),
      h('td', null, h('span', { class: 'mono', text: c.caller }), c.caller_name ? h('div', { class: 'muted small', text: c.caller_name }) : null),
      h('td', { class: 'mono', text: c.callee }),
      h('td', null, statusBadge(c)),
      h('td', { text: c.answered_at ? fmtDuration(c.duration_ms) : '–' }),
      h('td', { text: c.quality && c.quality.mos_avg != null ? c.quality.mos_avg.toFixed(2) : '–' }),
      h('td', { class: 'ctx', text: c.context || '' }),
      h('td', { class: 'mono small id', title: c.id, text: c.id }));
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearFormErrors(form);
    const r = readFilters();
    if (r.error) return showFormError(form, r.error);
    filters = r.f;
    cursors = [null];
    load();
  });
  form.addEventListener('reset', () => setTimeout(() => { clearFormErrors(form); filters = {}; cursors = [null]; load(); }));
  next.addEventListener('click', () => { if (nextCursor) { cursors.push(nextCursor); load(); } });
  prev.addEventListener('click', () => { if (cursors.length > 1) { cursors.pop(); load(); } });

  let pending = null;
  const unsubscribe = onCall(() => {
    if (cursors.length > 1 || pending) return;
    pending = setTimeout(() => { pending = null; load(); }, 400);
  });
  csv.addEventListener('click', () => toast('Exporting every call that matches the filters (CSV)'));

  await load();
  return {
    el: h('div', { class: 'page page-calls' },
      pageHeader('Calls', 'Every call of your account, newest first.', csv),
      h('section', { class: 'card' }, form),
      h('section', { class: 'card card-flush' }, table, h('div', { class: 'pager' }, prev, pageInfo, next))),
    destroy() {
      unsubscribe();
      clearTimeout(pending);
      seq++;
    },
  };
}
