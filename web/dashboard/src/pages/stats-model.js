// The stats page's model: ranges in the browser's time zone, bucket labels, and the three charts
// (their ECharts options and the rows of their CSV), as pure functions of a /v1/stats answer.
import { END_REASONS, STATUS_LABELS, STATUS_COLORS } from '../widgets.js';
import { baseOption } from '../charts.js';

export const DAY = 86400000;
export const MAX_RANGE = 30 * DAY;
export const RANGES = [['today', 'Today'], ['yesterday', 'Yesterday'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days'], ['custom', 'Custom']];

export const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate());
export const addDays = (d, n) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);
export const ymd = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
const parseYmd = (s) => {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
};

// {from, to, granularity} for a range choice (local days), or {error} naming the field.
export function rangeOf(sel, custom, now = new Date()) {
  const today = midnight(now);
  if (sel === 'today') return { from: today, to: now, granularity: 'hour' };
  if (sel === 'yesterday') return { from: addDays(today, -1), to: today, granularity: 'hour' };
  if (sel === '7d') return { from: addDays(today, -6), to: now, granularity: 'day' };
  if (sel === '30d') return { from: addDays(today, -29), to: now, granularity: 'day' };
  const from = parseYmd(custom.from);
  const toDay = parseYmd(custom.to);
  if (!from) return { error: 'from: pick a start date' };
  if (!toDay) return { error: 'to: pick an end date' };
  if (toDay < from) return { error: 'to: must be on or after the start date' };
  const to = addDays(toDay, 1) > now ? now : addDays(toDay, 1);
  if (to - from > MAX_RANGE) return { error: 'to: a custom range is at most 30 days' };
  return { from, to, granularity: to - from > 2 * DAY ? 'day' : 'hour' };
}

export const pct = (x) => (x == null ? '–' : `${(x * 100).toFixed(x === 1 || x === 0 ? 0 : 1)}%`);
export const mos = (x) => (x == null ? '–' : Number(x).toFixed(2));
export const bucketTotal = (b) => b.total ?? END_REASONS.reduce((s, r) => s + (b[r] || 0), 0);
const answerPct = (b) => {
  const t = bucketTotal(b);
  return t ? Math.round((1000 * (b.completed || 0)) / t) / 10 : null;
};

function bucketLabel(iso, gran, multiDay) {
  const d = new Date(iso);
  if (gran === 'hour') {
    const t = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    return multiDay ? `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${t}` : t;
  }
  const day = d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  return gran === 'week' ? `Week of ${day}` : day;
}

function labelsOf(d) {
  const multiDay = new Date(d.to) - new Date(d.from) > DAY;
  return d.buckets.map((b) => bucketLabel(b.start, d.granularity, multiDay));
}

const withLegend = { legend: { top: 0, type: 'scroll', textStyle: { fontSize: 11 } }, grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true } };

export const CHARTS = [
  {
    name: 'status',
    title: 'Calls by status',
    option: (d) => baseOption({
      tooltip: { trigger: 'item', confine: true },
      grid: { left: 8, right: 36, top: 8, bottom: 8, containLabel: true },
      yAxis: { type: 'category', inverse: true, data: END_REASONS.map((r) => STATUS_LABELS[r]), axisLabel: { interval: 0, fontSize: 12 }, axisTick: { show: false } },
      xAxis: { type: 'value', minInterval: 1 },
      series: [{ type: 'bar', barMaxWidth: 22, label: { show: true, position: 'right' },
        data: END_REASONS.map((r) => ({ value: d.totals[r] || 0, itemStyle: { color: STATUS_COLORS[r], borderRadius: [0, 4, 4, 0] } })) }],
    }),
    rows: (d) => [['status', 'label', 'count'], ...END_REASONS.map((r) => [r, STATUS_LABELS[r], d.totals[r] || 0])],
  },
  {
    name: 'volume',
    title: 'Call volume',
    option: (d) => baseOption({
      ...withLegend,
      xAxis: { type: 'category', data: labelsOf(d), axisLabel: { fontSize: 11 } },
      yAxis: { type: 'value', minInterval: 1 },
      series: END_REASONS.map((r) => ({ name: STATUS_LABELS[r], type: 'bar', stack: 'calls', barMaxWidth: 36, itemStyle: { color: STATUS_COLORS[r] },
        data: d.buckets.map((b) => b[r] || 0) })),
    }),
    rows: (d) => [['bucket_start', ...END_REASONS, 'total'], ...d.buckets.map((b) => [b.start, ...END_REASONS.map((r) => b[r] || 0), bucketTotal(b)])],
  },
  {
    name: 'quality',
    title: 'Answer rate and call quality',
    option: (d) => baseOption({
      ...withLegend,
      xAxis: { type: 'category', data: labelsOf(d), axisLabel: { fontSize: 11 } },
      yAxis: [{ type: 'value', min: 1, max: 5, name: 'MOS' }, { type: 'value', min: 0, max: 100, name: 'Answered %', splitLine: { show: false } }],
      series: [
        { name: 'MOS (average)', type: 'line', connectNulls: false, symbolSize: 6, itemStyle: { color: '#2563eb' }, data: d.buckets.map((b) => b.mos_avg ?? null) },
        { name: 'Answer rate', type: 'bar', yAxisIndex: 1, barMaxWidth: 24, itemStyle: { color: '#cbd5e1' }, data: d.buckets.map(answerPct) },
      ],
    }),
    rows: (d) => [['bucket_start', 'total', 'completed', 'answer_rate', 'mos_avg'],
      ...d.buckets.map((b) => {
        const t = bucketTotal(b);
        return [b.start, t, b.completed || 0, t ? ((b.completed || 0) / t).toFixed(4) : '', b.mos_avg ?? ''];
      })],
  },
];
