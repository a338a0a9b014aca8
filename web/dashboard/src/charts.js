// ECharts, tree-shaken: only the charts and components the stats page draws, with the SVG
// renderer (crisp on screen and on paper, and exportable as SVG as it is). Exports every chart
// as PNG, SVG, CSV and PDF; the PDF library is loaded only when a PDF is asked for.
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, TooltipComponent, LegendComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';
import { saveBlob } from './dom.js';

echarts.use([BarChart, LineChart, GridComponent, TooltipComponent, LegendComponent, SVGRenderer]);

// No double quotes: ECharts writes the family into an SVG style attribute unescaped.
export const FONT = 'system-ui, -apple-system, Segoe UI, Roboto, Liberation Sans, Arial, sans-serif';

export function makeChart(el) {
  return echarts.init(el, null, { renderer: 'svg' });
}

// The defaults every chart shares: no animation, the app's font and greys.
export function baseOption(extra) {
  return {
    animation: false,
    textStyle: { fontFamily: FONT, color: '#334155' },
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    tooltip: { trigger: 'axis', confine: true },
    ...extra,
  };
}

export function svgString(chart) {
  return chart.renderToSVGString();
}

// SVG -> PNG through an <img> and a canvas at 2x, on white.
export async function pngBlob(chart, scale = 2) {
  const svg = svgString(chart);
  const w = chart.getWidth();
  const hgt = chart.getHeight();
  const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.width = w;
    img.height = hgt;
    await new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error('the chart could not be rendered as an image'));
      img.src = url;
    });
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(hgt * scale);
    const g = canvas.getContext('2d');
    g.fillStyle = '#ffffff';
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.drawImage(img, 0, 0, canvas.width, canvas.height);
    return await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  } finally {
    URL.revokeObjectURL(url);
  }
}

function csvCell(v) {
  const s = v == null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvText(rows) {
  return rows.map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

let jsPDFPromise = null;
const loadPdf = () => (jsPDFPromise ||= import('jspdf').then((m) => m.jsPDF));

// A one-page landscape A4 PDF: title, subtitle (the range), the chart as a PNG, and a footer.
export async function pdfBlob(chart, { title, subtitle }) {
  const [JsPDF, png] = await Promise.all([loadPdf(), pngBlob(chart, 2)]);
  const bytes = new Uint8Array(await png.arrayBuffer());
  const doc = new JsPDF({ orientation: 'landscape', unit: 'mm', format: 'a4', compress: true });
  doc.setProperties({ title, creator: 'dcall dashboard' });
  const pageW = doc.internal.pageSize.getWidth();
  const pageH = doc.internal.pageSize.getHeight();
  doc.setFont('helvetica', 'bold');
  doc.setFontSize(18);
  doc.text(title, 15, 20);
  doc.setFont('helvetica', 'normal');
  doc.setFontSize(11);
  doc.setTextColor(100);
  doc.text(subtitle, 15, 28);
  const maxW = pageW - 30;
  const maxH = pageH - 55;
  const ratio = chart.getWidth() / chart.getHeight();
  let w = maxW;
  let hgt = w / ratio;
  if (hgt > maxH) {
    hgt = maxH;
    w = hgt * ratio;
  }
  doc.addImage(bytes, 'PNG', 15, 36, w, hgt);
  doc.setFontSize(9);
  doc.text(`dcall · generated ${new Date().toLocaleString()}`, 15, pageH - 10);
  return doc.output('blob');
}

export async function download(kind, chart, { name, title, subtitle, rows }) {
  const stamp = new Date().toISOString().slice(0, 10);
  const file = `dcall-${name}-${stamp}.${kind}`;
  if (kind === 'png') return saveBlob(await pngBlob(chart), file);
  if (kind === 'svg') return saveBlob(new Blob([svgString(chart)], { type: 'image/svg+xml' }), file);
  if (kind === 'csv') return saveBlob(new Blob([csvText(rows)], { type: 'text/csv' }), file);
  if (kind === 'pdf') return saveBlob(await pdfBlob(chart, { title, subtitle }), file);
  throw new Error(`unknown export ${kind}`);
}
