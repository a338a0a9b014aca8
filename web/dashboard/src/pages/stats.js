// Stats: a range (today, yesterday, last 7 or 30 days, custom up to 30 days) in the browser's time
// zone; status totals as numbers and a chart; volume over hour/day/week buckets; answer rate,
// average duration and MOS. Real time: refreshed (debounced) when /v1/web/live reports a call.
// Every chart downloads as PNG, SVG, CSV and PDF, and prints (alone or with the page).
import { get, query } from '../api.js';
import { h, icon, toast } from '../dom.js';
import { onCall, isLive } from '../live.js';
import { pageHeader, END_REASONS, STATUS_LABELS, STATUS_COLORS, fmtDuration } from '../widgets.js';
import { makeChart, download } from '../charts.js';
import { RANGES, CHARTS, rangeOf, addDays, ymd, pct, mos } from './stats-model.js';

const PRINT_SIZE = { width: 680, height: 300 };
const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

// The range choice, remembered for the browser tab so coming back to the page keeps it.
function loadChoice() {
  const r = JSON.parse(sessionStorage.getItem('dcall.stats') || '{}');
  return {
    sel: RANGES.some(([id]) => id === r.sel) ? r.sel : '7d',
    gran: ['hour', 'day', 'week'].includes(r.gran) ? r.gran : null, // null: the range's default
    custom: { from: r.from || ymd(addDays(new Date(), -6)), to: r.to || ymd(new Date()) },
  };
}
const saveChoice = (c) => sessionStorage.setItem('dcall.stats', JSON.stringify({ sel: c.sel, gran: c.gran, ...c.custom }));

// Range buttons, bucket size and custom dates; onChange() after any change.
function controls(choice, onChange) {
  const rangeBar = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Duration' },
    RANGES.map(([id, label]) => h('button', { type: 'button', dataset: { range: id }, text: label, onclick: () => pick(id) })));
  const fromIn = h('input', { type: 'date', name: 'from', value: choice.custom.from, 'aria-label': 'From' });
  const toIn = h('input', { type: 'date', name: 'to', value: choice.custom.to, 'aria-label': 'To' });
  const error = h('div', { class: 'field-error', role: 'alert', dataset: { errorFor: 'range' } });
  const customBox = h('div', { class: 'custom-range' }, fromIn, h('span', { text: '–' }), toIn,
    h('button', { type: 'button', class: 'btn btn-secondary btn-sm', text: 'Apply',
      onclick: () => { choice.custom = { from: fromIn.value, to: toIn.value }; changed(); } }));
  const granSel = h('select', { name: 'granularity', 'aria-label': 'Bucket size' },
    [['', 'Auto buckets'], ['hour', 'By hour'], ['day', 'By day'], ['week', 'By week']].map(([v, t]) => h('option', { value: v, text: t })));
  granSel.value = choice.gran || '';
  granSel.addEventListener('change', () => { choice.gran = granSel.value || null; changed(); });
  function changed() {
    saveChoice(choice);
    onChange();
  }
  function pick(id) {
    choice.sel = id;
    rangeBar.querySelectorAll('button').forEach((b) => b.classList.toggle('active', b.dataset.range === id));
    customBox.hidden = id !== 'custom';
    changed();
  }
  return { el: h('div', { class: 'toolbar stats-toolbar' }, rangeBar, granSel, customBox, error), error, pick };
}

// The four headline numbers.
function kpiPanel() {
  const make = (id, label) => {
    const value = h('div', { class: 'kpi-value', dataset: { testid: `kpi-${id}` }, text: '–' });
    const sub = h('div', { class: 'kpi-sub muted' });
    return { el: h('div', { class: 'kpi' }, h('div', { class: 'kpi-label', text: label }), value, sub), value, sub };
  };
  const k = { total: make('total', 'Calls'), rate: make('answer-rate', 'Answer rate'), dur: make('avg-duration', 'Average duration'), mos: make('mos', 'Call quality (MOS)') };
  const set = (x, value, sub) => {
    x.value.textContent = value;
    x.sub.textContent = sub;
  };
  return {
    el: h('div', { class: 'kpis' }, Object.values(k).map((x) => x.el)),
    update(d) {
      const t = d.totals || {};
      const s = d.summary || {};
      const total = s.total ?? END_REASONS.reduce((a, r) => a + (t[r] || 0), 0);
      set(k.total, String(total), 'ended in this range');
      set(k.rate, pct(s.answer_rate !== undefined ? s.answer_rate : total ? (t.completed || 0) / total : null),
        s.answered != null ? `${s.answered} answered` : `${t.completed || 0} over`);
      set(k.dur, s.avg_duration_ms == null ? '–' : fmtDuration(s.avg_duration_ms), 'of answered calls');
      set(k.mos, mos(s.mos_avg), s.mos_avg == null ? 'no quality reports yet' : `lowest ${mos(s.mos_min)} · ${s.quality_calls} calls`);
    },
  };
}

// Status totals as numbers (Over, Declined, Missed, Canceled, then the rest).
function totalsPanel() {
  const nums = {};
  const grid = h('div', { class: 'totals' }, END_REASONS.map((r) => {
    nums[r] = h('span', { class: 'total-num', dataset: { testid: `total-${r}` }, text: '0' });
    return h('div', { class: 'total', dataset: { status: r } }, h('span', { class: 'dot', style: { background: STATUS_COLORS[r] } }),
      h('span', { class: 'total-label', text: STATUS_LABELS[r] }), nums[r]);
  }));
  return {
    el: h('section', { class: 'card' }, h('h2', { class: 'card-title', text: 'Call status' }), grid),
    update: (d) => END_REASONS.forEach((r) => (nums[r].textContent = String((d.totals || {})[r] || 0))),
  };
}

// One chart in a card with its download and print buttons. ctx: {data(), subtitle(), printOne(c)}.
function chartPanel(def, ctx) {
  const box = h('div', { class: 'chart', dataset: { chart: def.name } });
  const sub = h('div', { class: 'print-sub' });
  const c = { def, box, chart: null };
  const exportBtn = (kind) => h('button', { type: 'button', class: 'btn btn-ghost btn-xs', dataset: { export: kind }, text: kind.toUpperCase(),
    title: `Download as ${kind.toUpperCase()}`,
    onclick: async () => {
      try {
        await download(kind, c.chart, { name: def.name, title: def.title, subtitle: ctx.subtitle(), rows: def.rows(ctx.data()) });
      } catch (e) {
        toast(`${def.title}: ${e.message}`, 'error');
      }
    } });
  c.card = h('section', { class: 'card chart-card', dataset: { chartCard: def.name } },
    h('div', { class: 'chart-head' }, h('h2', { class: 'card-title', text: def.title }),
      h('div', { class: 'chart-tools', role: 'group', 'aria-label': `${def.title}: download or print` },
        icon('download', 'icon tool-icon'), ['png', 'svg', 'csv', 'pdf'].map(exportBtn),
        h('button', { type: 'button', class: 'btn btn-ghost btn-xs', dataset: { export: 'print' }, title: 'Print this chart', 'aria-label': 'Print this chart',
          onclick: () => ctx.printOne(c) }, icon('print')))),
    sub, box);
  c.update = (d) => {
    if (!c.chart) c.chart = makeChart(box);
    c.chart.setOption(def.option(d), { notMerge: true });
    sub.textContent = ctx.subtitle();
  };
  return c;
}

// Charts on paper: a fixed size while the print media applies (window.print or emulation).
function printing(charts) {
  const mq = window.matchMedia('print');
  const toPrint = () => charts.forEach((c) => c.chart?.resize(PRINT_SIZE));
  const toScreen = () => {
    document.body.classList.remove('print-one');
    charts.forEach((c) => c.card.classList.remove('print-target'));
    charts.forEach((c) => c.chart?.resize());
  };
  const onMq = (e) => (e.matches ? toPrint() : toScreen());
  mq.addEventListener('change', onMq);
  window.addEventListener('beforeprint', toPrint);
  window.addEventListener('afterprint', toScreen);
  const ro = new ResizeObserver(() => { if (!mq.matches) charts.forEach((c) => c.chart?.resize()); });
  return {
    observe: () => charts.forEach((c) => ro.observe(c.box)),
    printOne(c) {
      document.body.classList.add('print-one');
      c.card.classList.add('print-target');
      window.print();
    },
    destroy() {
      ro.disconnect();
      mq.removeEventListener('change', onMq);
      window.removeEventListener('beforeprint', toPrint);
      window.removeEventListener('afterprint', toScreen);
    },
  };
}

export async function render() {
  const choice = loadChoice();
  let data = null;
  let range = null;
  const updated = h('span', { class: 'updated muted', dataset: { testid: 'updated' } });
  const ctl = controls(choice, () => load());
  const kpis = kpiPanel();
  const totals = totalsPanel();
  const subtitle = () => {
    if (!range) return '';
    const f = (d) => d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    return `${f(range.from)} – ${f(range.to)} (${tz})`;
  };
  const charts = [];
  const paper = printing(charts);
  charts.push(...CHARTS.map((def) => chartPanel(def, { data: () => data, subtitle, printOne: (c) => paper.printOne(c) })));

  // One request at a time; a change while one is in flight asks for another after it.
  let seq = 0;
  let inFlight = false;
  let dirty = false;
  async function load() {
    ctl.error.textContent = '';
    const r = rangeOf(choice.sel, choice.custom);
    if (r.error) return void (ctl.error.textContent = r.error);
    const my = ++seq;
    inFlight = true;
    try {
      const d = await get(`/v1/stats${query({ from: r.from.toISOString(), to: r.to.toISOString(), granularity: choice.gran || r.granularity, tz })}`);
      if (my !== seq) return;
      range = r;
      data = d;
      kpis.update(d);
      totals.update(d);
      charts.forEach((c) => c.update(d));
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if (my === seq) {
        if (e.field === 'from' || e.field === 'to') ctl.error.textContent = e.message;
        else toast(`Stats: ${e.message}`, 'error');
      }
    } finally {
      if (my === seq) {
        inFlight = false;
        if (dirty) {
          dirty = false;
          load();
        }
      }
    }
  }

  // A call placed, answered or ended: refresh within ~0.4 s. Without the live socket, poll.
  let pending = null;
  const unsubscribe = onCall(() => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      if (inFlight) dirty = true;
      else load();
    }, 400);
  });
  const poll = setInterval(() => { if (!isLive() && !document.hidden) load(); }, 10000);

  return {
    el: h('div', { class: 'page page-stats' },
      pageHeader('Call stats', `Times in ${tz}. Updates live as calls end.`, updated,
        h('button', { type: 'button', class: 'btn btn-ghost btn-sm', onclick: () => window.print() }, icon('print'), 'Print')),
      ctl.el, kpis.el, totals.el,
      h('div', { class: 'charts' }, charts.map((c) => c.card))),
    mounted() {
      paper.observe();
      ctl.pick(choice.sel);
    },
    destroy() {
      unsubscribe();
      clearInterval(poll);
      clearTimeout(pending);
      paper.destroy();
      charts.forEach((c) => c.chart?.dispose());
      seq++;
    },
  };
}
