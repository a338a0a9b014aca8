// Stats: a range (today, yesterday, last 7 or 30 days, custom up to 30 days) in the browser's time
// zone; status totals as numbers and a chart; volume over hour/day/week buckets; answer rate,
// average duration and MOS. Real time: refreshed (debounced) when /v1/web/live reports a call.
import { get, query } from '../api.js';
import { h, clear, icon, toast } from '../dom.js';
import { onCall, isLive } from '../live.js';
import { pageHeader, END_REASONS, STATUS_LABELS, STATUS_COLORS, fmtDuration } from '../widgets.js';
import { makeChart, baseOption, download } from '../charts.js';

const DAY = 86400000;
const MAX_RANGE = 30 * DAY;
const PRINT_SIZE = { width: 680, height: 300 };
const RANGES = [['today', 'Today'], ['yesterday', 'Yesterday'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days'], ['custom', 'Custom']];
const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate());
const addDays = (d, n) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);
const ymd = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
const parseYmd = (s) => {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
};

// {from, to, granularity} for a range choice, or {error, field}.
export function rangeOf(sel, custom, now = new Date()) {
  const today = midnight(now);
  if (sel === 'today') return { from: today, to: now, granularity: 'hour' };
  if (sel === 'yesterday') return { from: addDays(today, -1), to: today, granularity: 'hour' };
  if (sel === '7d') return { from: addDays(today, -6), to: now, granularity: 'day' };
  if (sel === '30d') return { from: addDays(today, -29), to: now, granularity: 'day' };
  const from = parseYmd(custom.from);
  const toDay = parseYmd(custom.to);
  if (!from) return { error: 'from: pick a start date', field: 'from' };
  if (!toDay) return { error: 'to: pick an end date', field: 'to' };
  if (toDay < from) return { error: 'to: must be on or after the start date', field: 'to' };
  const to = addDays(toDay, 1) > now ? now : addDays(toDay, 1);
  if (to - from > MAX_RANGE) return { error: 'to: a custom range is at most 30 days', field: 'to' };
  return { from, to, granularity: to - from > 2 * DAY ? 'day' : 'hour' };
}

function bucketLabel(iso, gran, multiDay) {
  const d = new Date(iso);
  if (gran === 'hour') {
    const t = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    return multiDay ? `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${t}` : t;
  }
  const day = d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  return gran === 'week' ? `Week of ${day}` : day;
}

const pct = (x) => (x == null ? '–' : `${(x * 100).toFixed(x === 1 || x === 0 ? 0 : 1)}%`);
const mos = (x) => (x == null ? '–' : Number(x).toFixed(2));

export async function render() {
  // The choice is remembered for the browser tab, so coming back to the page keeps it.
  const remembered = JSON.parse(sessionStorage.getItem('dcall.stats') || '{}');
  let sel = RANGES.some(([id]) => id === remembered.sel) ? remembered.sel : '7d';
  const custom = { from: remembered.from || ymd(addDays(new Date(), -6)), to: remembered.to || ymd(new Date()) };
  let gran = ['hour', 'day', 'week'].includes(remembered.gran) ? remembered.gran : null; // null: the range's default
  const remember = () => sessionStorage.setItem('dcall.stats', JSON.stringify({ sel, gran, ...custom }));
  let data = null;
  let range = null;
  const charts = [];

  // --- controls ------------------------------------------------------------------------------
  const rangeBar = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Duration' },
    RANGES.map(([id, label]) => h('button', { type: 'button', dataset: { range: id }, text: label, onclick: () => pick(id) })));
  const fromIn = h('input', { type: 'date', name: 'from', value: custom.from, 'aria-label': 'From' });
  const toIn = h('input', { type: 'date', name: 'to', value: custom.to, 'aria-label': 'To' });
  const customErr = h('div', { class: 'field-error', role: 'alert', dataset: { errorFor: 'range' } });
  const customBox = h('div', { class: 'custom-range', hidden: true }, fromIn, h('span', { text: '–' }), toIn,
    h('button', { type: 'button', class: 'btn btn-secondary btn-sm', text: 'Apply', onclick: () => { custom.from = fromIn.value; custom.to = toIn.value; remember(); load(); } }));
  const granSel = h('select', { name: 'granularity', 'aria-label': 'Bucket size' },
    h('option', { value: '', text: 'Auto buckets' }), h('option', { value: 'hour', text: 'By hour' }),
    h('option', { value: 'day', text: 'By day' }), h('option', { value: 'week', text: 'By week' }));
  granSel.value = gran || '';
  granSel.addEventListener('change', () => { gran = granSel.value || null; remember(); load(); });
  const updated = h('span', { class: 'updated muted', dataset: { testid: 'updated' } });
  const printAll = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', onclick: () => window.print() }, icon('print'), 'Print');

  function pick(id) {
    sel = id;
    rangeBar.querySelectorAll('button').forEach((b) => b.classList.toggle('active', b.dataset.range === id));
    customBox.hidden = id !== 'custom';
    remember();
    load();
  }

  // --- KPIs and totals -----------------------------------------------------------------------
  const kpi = (id, label) => {
    const value = h('div', { class: 'kpi-value', dataset: { testid: `kpi-${id}` }, text: '–' });
    const sub = h('div', { class: 'kpi-sub muted' });
    return { el: h('div', { class: 'kpi' }, h('div', { class: 'kpi-label', text: label }), value, sub), value, sub };
  };
  const kpis = { total: kpi('total', 'Calls'), rate: kpi('answer-rate', 'Answer rate'), dur: kpi('avg-duration', 'Average duration'), mos: kpi('mos', 'Call quality (MOS)') };
  const totalsEls = {};
  const totalsGrid = h('div', { class: 'totals' }, END_REASONS.map((r) => {
    totalsEls[r] = h('span', { class: 'total-num', dataset: { testid: `total-${r}` }, text: '0' });
    return h('div', { class: 'total', dataset: { status: r } }, h('span', { class: 'dot', style: { background: STATUS_COLORS[r] } }),
      h('span', { class: 'total-label', text: STATUS_LABELS[r] }), totalsEls[r]);
  }));

  // --- charts --------------------------------------------------------------------------------
  function chartCard(name, title, optionOf, rowsOf) {
    const box = h('div', { class: 'chart', dataset: { chart: name } });
    const empty = h('div', { class: 'chart-empty muted', hidden: true });
    const c = { name, title, box, empty, chart: null, optionOf, rowsOf };
    const exportBtn = (kind) => h('button', { type: 'button', class: 'btn btn-ghost btn-xs', dataset: { export: kind }, text: kind.toUpperCase(),
      title: `Download as ${kind.toUpperCase()}`,
      onclick: async () => {
        try {
          await download(kind, c.chart, { name, title, subtitle: subtitle(), rows: rowsOf(data) });
        } catch (e) {
          toast(`${title}: ${e.message}`, 'error');
        }
      } });
    c.card = h('section', { class: 'card chart-card', dataset: { chartCard: name } },
      h('div', { class: 'chart-head' }, h('h2', { class: 'card-title', text: title }),
        h('div', { class: 'chart-tools', role: 'group', 'aria-label': `${title}: download or print` },
          icon('download', 'icon tool-icon'), ['png', 'svg', 'csv', 'pdf'].map(exportBtn),
          h('button', { type: 'button', class: 'btn btn-ghost btn-xs', dataset: { export: 'print' }, title: 'Print this chart', onclick: () => printOne(c) }, icon('print')))),
      h('div', { class: 'print-sub', text: '' }),
      box, empty);
    charts.push(c);
    return c.card;
  }

  const statusOption = (d) => baseOption({
    tooltip: { trigger: 'item', confine: true },
    grid: { left: 8, right: 36, top: 8, bottom: 8, containLabel: true },
    yAxis: { type: 'category', inverse: true, data: END_REASONS.map((r) => STATUS_LABELS[r]), axisLabel: { interval: 0, fontSize: 12 }, axisTick: { show: false } },
    xAxis: { type: 'value', minInterval: 1 },
    series: [{ type: 'bar', barMaxWidth: 22, label: { show: true, position: 'right' },
      data: END_REASONS.map((r) => ({ value: d.totals[r] || 0, itemStyle: { color: STATUS_COLORS[r], borderRadius: [0, 4, 4, 0] } })) }],
  });
  const labelsOf = (d) => {
    const multiDay = new Date(d.to) - new Date(d.from) > DAY;
    return d.buckets.map((b) => bucketLabel(b.start, d.granularity, multiDay));
  };
  const volumeOption = (d) => baseOption({
    legend: { top: 0, type: 'scroll', textStyle: { fontSize: 11 } },
    grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: labelsOf(d), axisLabel: { fontSize: 11 } },
    yAxis: { type: 'value', minInterval: 1 },
    series: END_REASONS.map((r) => ({ name: STATUS_LABELS[r], type: 'bar', stack: 'calls', barMaxWidth: 36, itemStyle: { color: STATUS_COLORS[r] },
      data: d.buckets.map((b) => b[r] || 0) })),
  });
  const qualityOption = (d) => baseOption({
    legend: { top: 0, textStyle: { fontSize: 11 } },
    grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: labelsOf(d), axisLabel: { fontSize: 11 } },
    yAxis: [{ type: 'value', min: 1, max: 5, name: 'MOS' }, { type: 'value', min: 0, max: 100, name: 'Answered %', splitLine: { show: false } }],
    series: [
      { name: 'MOS (average)', type: 'line', connectNulls: false, symbolSize: 6, itemStyle: { color: '#2563eb' }, data: d.buckets.map((b) => b.mos_avg ?? null) },
      { name: 'Answer rate', type: 'bar', yAxisIndex: 1, barMaxWidth: 24, itemStyle: { color: '#cbd5e1' },
        data: d.buckets.map((b) => { const t = bucketTotal(b); return t ? Math.round((1000 * (b.completed || 0)) / t) / 10 : null; }) },
    ],
  });
  const bucketTotal = (b) => b.total ?? END_REASONS.reduce((s, r) => s + (b[r] || 0), 0);

  const statusRows = (d) => [['status', 'label', 'count'], ...END_REASONS.map((r) => [r, STATUS_LABELS[r], d.totals[r] || 0])];
  const volumeRows = (d) => [['bucket_start', ...END_REASONS, 'total'], ...d.buckets.map((b) => [b.start, ...END_REASONS.map((r) => b[r] || 0), bucketTotal(b)])];
  const qualityRows = (d) => [['bucket_start', 'total', 'completed', 'answer_rate', 'mos_avg'],
    ...d.buckets.map((b) => { const t = bucketTotal(b); return [b.start, t, b.completed || 0, t ? ((b.completed || 0) / t).toFixed(4) : '', b.mos_avg ?? '']; })];

  const chartsGrid = h('div', { class: 'charts' },
    chartCard('status', 'Calls by status', statusOption, statusRows),
    chartCard('volume', 'Call volume', volumeOption, volumeRows),
    chartCard('quality', 'Answer rate and call quality', qualityOption, qualityRows));

  function subtitle() {
    if (!range) return '';
    const f = (d) => d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    return `${f(range.from)} – ${f(range.to)} (${tz})`;
  }

  // --- data ----------------------------------------------------------------------------------
  let seq = 0;
  let inFlight = false;
  let dirty = false;
  async function load() {
    customErr.textContent = '';
    const r = rangeOf(sel, custom);
    if (r.error) {
      customErr.textContent = r.error;
      return;
    }
    const my = ++seq;
    inFlight = true;
    try {
      const d = await get(`/v1/stats${query({ from: r.from.toISOString(), to: r.to.toISOString(), granularity: gran || r.granularity, tz })}`);
      if (my !== seq) return;
      range = r;
      data = d;
      draw();
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if (my === seq) {
        if (e.field === 'from' || e.field === 'to') customErr.textContent = e.message;
        else toast(`Stats: ${e.message}`, 'error');
      }
    } finally {
      if (my === seq) inFlight = false;
      if (dirty && my === seq) {
        dirty = false;
        load();
      }
    }
  }

  function draw() {
    const d = data;
    const totals = d.totals || {};
    const s = d.summary || {};
    const total = s.total ?? END_REASONS.reduce((a, r) => a + (totals[r] || 0), 0);
    for (const r of END_REASONS) totalsEls[r].textContent = String(totals[r] || 0);
    kpis.total.value.textContent = String(total);
    kpis.total.sub.textContent = 'ended in this range';
    const rate = s.answer_rate !== undefined ? s.answer_rate : total ? (totals.completed || 0) / total : null;
    kpis.rate.value.textContent = pct(rate);
    kpis.rate.sub.textContent = s.answered != null ? `${s.answered} answered` : `${totals.completed || 0} over`;
    kpis.dur.value.textContent = s.avg_duration_ms == null ? '–' : fmtDuration(s.avg_duration_ms);
    kpis.dur.sub.textContent = 'of answered calls';
    kpis.mos.value.textContent = mos(s.mos_avg);
    kpis.mos.sub.textContent = s.mos_avg == null ? 'no quality reports yet' : `lowest ${mos(s.mos_min)} · ${s.quality_calls} calls`;
    for (const c of charts) {
      if (!c.chart) c.chart = makeChart(c.box);
      c.chart.setOption(c.optionOf(d), { notMerge: true });
      c.card.querySelector('.print-sub').textContent = subtitle();
    }
  }

  // A call placed, answered or ended: refresh within ~0.4 s, at most one request in flight.
  let pending = null;
  const unsubscribe = onCall(() => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      if (inFlight) dirty = true;
      else load();
    }, 400);
  });
  // Without the live socket (reconnecting), poll instead.
  const poll = setInterval(() => { if (!isLive() && !document.hidden) load(); }, 10000);

  // --- printing ------------------------------------------------------------------------------
  const printMq = window.matchMedia('print');
  const toPrint = () => charts.forEach((c) => c.chart?.resize(PRINT_SIZE));
  const toScreen = () => {
    document.body.classList.remove('print-one');
    charts.forEach((c) => c.card.classList.remove('print-target'));
    charts.forEach((c) => c.chart?.resize());
  };
  const onMq = (e) => (e.matches ? toPrint() : toScreen());
  printMq.addEventListener('change', onMq);
  window.addEventListener('beforeprint', toPrint);
  window.addEventListener('afterprint', toScreen);
  function printOne(c) {
    document.body.classList.add('print-one');
    c.card.classList.add('print-target');
    window.print();
  }
  const ro = new ResizeObserver(() => { if (!printMq.matches) charts.forEach((c) => c.chart?.resize()); });

  const el = h('div', { class: 'page page-stats' },
    pageHeader('Call stats', `Times in ${tz}. Updates live as calls end.`, updated, printAll),
    h('div', { class: 'toolbar stats-toolbar' }, rangeBar, granSel, customBox, customErr),
    h('div', { class: 'kpis' }, Object.values(kpis).map((k) => k.el)),
    h('section', { class: 'card' }, h('h2', { class: 'card-title', text: 'Call status' }), totalsGrid),
    chartsGrid);

  return {
    el,
    mounted() {
      charts.forEach((c) => ro.observe(c.box));
      pick(sel);
    },
    destroy() {
      unsubscribe();
      clearInterval(poll);
      clearTimeout(pending);
      ro.disconnect();
      printMq.removeEventListener('change', onMq);
      window.removeEventListener('beforeprint', toPrint);
      window.removeEventListener('afterprint', toScreen);
      charts.forEach((c) => c.chart?.dispose());
      seq++;
    },
  };
}
